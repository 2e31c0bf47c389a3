"""A small evaluator for the GitHub Actions expressions the workflows' ``if:`` use.

Follows GitHub's "Expressions" reference for the subset: literals (strings in single quotes with
``''`` as the escape, numbers, true/false/null), context paths (``github.event.schedule``,
``vars.NAME``, ``needs.job.outputs.x``), indexing ``x[expr]``, ``!``, ``==`` / ``!=`` (strings
compared ignoring case), ``&&`` / ``||`` (which return an operand, not a boolean), parentheses,
and the functions ``contains``, ``startsWith``, ``endsWith``, ``format``, ``fromJSON``,
``toJSON``. A missing property is null. Anything else raises :class:`ExpressionError`, so a
workflow that grows a construct this module does not know fails its test rather than passing
untested.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

TOKEN = re.compile(
    r"\s*(?:(?P<string>'(?:[^']|'')*')|(?P<number>-?\d+(?:\.\d+)?)"
    r"|(?P<op>\|\||&&|==|!=|<=|>=|[!()\[\],.<>])|(?P<name>[A-Za-z_][\w-]*))"
)


class ExpressionError(Exception):
    pass


def tokenize(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    position = 0
    text = text.strip()
    while position < len(text):
        match = TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise ExpressionError(f"cannot read {text[position:]!r}")
        kind = match.lastgroup
        assert kind is not None
        tokens.append((kind, match.group(kind)))
        position = match.end()
    return tokens


def truthy(value: Any) -> bool:
    return value not in (None, False, 0, "") and not (isinstance(value, float) and value != value)


def to_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def to_number(value: Any) -> float:
    if value is None:
        return 0.0
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip()) if value.strip() else 0.0
        except ValueError:
            return float("nan")
    return float("nan")  # objects and arrays


def equal(left: Any, right: Any) -> bool:
    """GitHub's ``==``: strings ignore case; values of different types compare as numbers."""
    if isinstance(left, str) and isinstance(right, str):
        return left.casefold() == right.casefold()
    if type(left) is not type(right) and not {type(left), type(right)} <= {int, float}:
        return to_number(left) == to_number(right)
    if isinstance(left, (dict, list)):
        return left is right
    return bool(left == right)


def _format(template: Any, *args: Any) -> str:
    text = to_text(template)

    def replace(match: re.Match[str]) -> str:
        if match.group(0) in ("{{", "}}"):
            return match.group(0)[0]
        return to_text(args[int(match.group(1))])

    return re.sub(r"\{\{|\}\}|\{(\d+)\}", replace, text)


def _contains(search: Any, item: Any) -> bool:
    if isinstance(search, list):
        return any(equal(element, item) for element in search if type(element) is type(item))
    return to_text(item).casefold() in to_text(search).casefold()


def _from_json(text: Any) -> Any:
    try:
        return json.loads(to_text(text))
    except ValueError:
        # GitHub fails the expression (and so the job's evaluation) on bad JSON.
        raise ExpressionError(f"fromJSON of {text!r}") from None


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "contains": _contains,
    "startswith": lambda s, p: to_text(s).casefold().startswith(to_text(p).casefold()),
    "endswith": lambda s, p: to_text(s).casefold().endswith(to_text(p).casefold()),
    "format": _format,
    "fromjson": _from_json,
    "tojson": lambda v: json.dumps(v, indent=2),
}


Node = Callable[[], Any]


class _Parser:
    """Parses into closures, so that ``||`` and ``&&`` short-circuit as GitHub's do."""

    def __init__(self, text: str, contexts: Mapping[str, Any]) -> None:
        self.tokens = tokenize(text)
        self.index = 0
        self.contexts = contexts

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def take(self, value: str | None = None) -> tuple[str, str]:
        token = self.peek()
        if token is None or (value is not None and token[1] != value):
            raise ExpressionError(f"expected {value!r}, found {token!r}")
        self.index += 1
        return token

    def parse(self) -> Node:
        node = self.or_()
        if self.peek() is not None:
            raise ExpressionError(f"unexpected {self.peek()!r}")
        return node

    def or_(self) -> Node:
        node = self.and_()
        while self.peek() == ("op", "||"):
            self.take()
            node = _or(node, self.and_())
        return node

    def and_(self) -> Node:
        node = self.equality()
        while self.peek() == ("op", "&&"):
            self.take()
            node = _and(node, self.equality())
        return node

    def equality(self) -> Node:
        node = self.unary()
        while self.peek() in (("op", "=="), ("op", "!=")):
            operator = self.take()[1]
            node = _compare(node, self.unary(), operator == "==")
        return node

    def unary(self) -> Node:
        if self.peek() == ("op", "!"):
            self.take()
            operand = self.unary()
            return lambda: not truthy(operand())
        return self.postfix()

    def postfix(self) -> Node:
        node = self.primary()
        while self.peek() in (("op", "."), ("op", "[")):
            if self.take()[1] == ".":
                kind, name = self.take()
                if kind != "name":
                    raise ExpressionError(f"property name expected, found {name!r}")
                node = _index(node, lambda name=name: name)
            else:
                key = self.or_()
                self.take("]")
                node = _index(node, key)
        return node

    def primary(self) -> Node:
        kind, text = self.take()
        if kind == "string":
            literal: Any = text[1:-1].replace("''", "'")
            return lambda: literal
        if kind == "number":
            number = float(text) if "." in text else int(text)
            return lambda: number
        if (kind, text) == ("op", "("):
            node = self.or_()
            self.take(")")
            return node
        if kind != "name":
            raise ExpressionError(f"unexpected {text!r}")
        if text in ("true", "false", "null"):
            constant = {"true": True, "false": False, "null": None}[text]
            return lambda: constant
        if self.peek() == ("op", "("):
            function = FUNCTIONS.get(text.lower())
            if function is None:
                raise ExpressionError(f"function {text} is not supported here")
            self.take("(")
            args: list[Node] = []
            while self.peek() != ("op", ")"):
                args.append(self.or_())
                if self.peek() == ("op", ","):
                    self.take()
            self.take(")")
            return lambda: function(*(arg() for arg in args))
        if text not in self.contexts:
            raise ExpressionError(f"context {text} is not provided")
        value = self.contexts[text]
        return lambda: value


def _or(left: Node, right: Node) -> Node:
    def node() -> Any:
        value = left()
        return value if truthy(value) else right()

    return node


def _and(left: Node, right: Node) -> Node:
    def node() -> Any:
        value = left()
        return right() if truthy(value) else value

    return node


def _compare(left: Node, right: Node, same: bool) -> Node:
    return lambda: equal(left(), right()) == same


def _index(target: Node, key: Node) -> Node:
    def node() -> Any:
        value, name = target(), key()
        if isinstance(value, dict):
            return value.get(to_text(name))
        if isinstance(value, list) and isinstance(name, int) and 0 <= name < len(value):
            return value[name]
        return None

    return node


def evaluate(expression: str, contexts: Mapping[str, Any]) -> Any:
    """The value of ``expression`` (with or without ``${{ }}``) given the named contexts."""
    text = expression.strip()
    if text.startswith("${{") and text.endswith("}}"):
        text = text[3:-2]
    return _Parser(text, contexts).parse()()
