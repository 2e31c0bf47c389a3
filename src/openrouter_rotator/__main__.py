"""``python -m openrouter_rotator`` is the ``openrouter-rotator`` command."""

import sys

from .cli import main

sys.exit(main())
