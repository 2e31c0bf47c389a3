"""openrouter-rotator: rotate OpenRouter API keys and keep them sealed in GitHub Actions secrets."""

__version__ = "0.1.0"
