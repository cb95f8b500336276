"""A safe subset of Entra ID's attribute-mapping expression language, parsed and never ``eval``-ed.

Does: tokenize and parse (recursive descent) an expression such as
``Switch([IsSoftDeleted], , "False", "True", "True", "False")`` or
``Coalesce([addresses[type eq "work"].locality], "remote")`` into a tree, check every call's
function name, arity, empty arguments and literal arguments at compile time, and evaluate the tree
against a caller-supplied attribute resolver.
Does not: read documents (the resolver does), run Python, or accept anything Entra's grammar lacks.

Grammar (``expr`` is the whole input)::

    expr     := operand [ ("=" | "<>" | "<" | "<=" | ">" | ">=") operand ]
    operand  := STRING | NUMBER | ATTRIBUTE | NAME "(" [ arg { "," arg } ] ")"
    arg      := expr | (nothing: an empty argument, as in ``Switch([x], , "a", "b")``)
    STRING   := '"' { char | '\\"' | '\\\\' } '"'      (other backslashes are kept as written)
    NUMBER   := [ "-" ] digits [ "." digits ]
    ATTRIBUTE:= "[" SCIM path "]"                      (``[emails[type eq "work"].value]``)

Entra has no ``true``/``false`` literals (it uses the strings ``"True"``/``"False"``), nor do we.
Function names match case-insensitively. Comparisons follow Entra's IIF: a missing operand makes the
comparison false; two numbers compare as numbers, anything else as case-sensitive strings. The
functions and their semantics are listed in :mod:`scimbridge.flex.mapping.expression_functions`.

Bounds: at most :data:`MAX_EXPRESSION_LENGTH` characters and :data:`MAX_NESTING` nested calls.
Every compile problem raises :class:`MappingError` with the 0-based ``offset`` of the culprit;
evaluation never raises for missing data: it yields ``None``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from scimbridge.config.errors import ConfigError
from scimbridge.flex.mapping.expression_arguments import (
    NOT_LITERAL,
    ArgShape,
    ArgumentError,
    Impl,
    integer,
    number,
    text,
)
from scimbridge.flex.mapping.expression_functions import FUNCTIONS
from scimbridge.flex.mapping.paths import PathError, parse_path

MAX_EXPRESSION_LENGTH = 2000
MAX_NESTING = 32
COMPARISONS = ("<>", "<=", ">=", "=", "<", ">")

Resolve = Callable[[str], Any]
_NUMBER = re.compile(r"-?\d+(\.\d+)?")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class MappingError(ConfigError):
    """The ``[flex]`` mapping (or one expression in it) cannot be used.

    ``offset`` is the 0-based position in the expression text when one expression is at fault;
    ``problems`` lists every problem found, each prefixed with its TOML key path.
    """

    def __init__(
        self, message: str, *, offset: int | None = None, problems: Sequence[str] = ()
    ) -> None:
        super().__init__(message)
        self.offset = offset
        self.problems = tuple(problems) or (message,)


def _error(message: str, offset: int) -> MappingError:
    return MappingError(f"{message} at position {offset + 1}", offset=offset)


@dataclass(frozen=True)
class _Token:
    kind: str  # string number attribute name ( ) , op end
    value: Any
    offset: int


class ExpressionNode:
    """A node of the expression tree."""

    offset: int = 0

    def evaluate(self, resolve: Resolve) -> Any:
        raise NotImplementedError


@dataclass(frozen=True)
class Constant(ExpressionNode):
    value: str | int | float
    offset: int = 0

    def evaluate(self, resolve: Resolve) -> Any:
        return self.value


@dataclass(frozen=True)
class Attribute(ExpressionNode):
    path: str
    offset: int = 0

    def evaluate(self, resolve: Resolve) -> Any:
        return resolve(self.path)


@dataclass(frozen=True)
class EmptyArgument(ExpressionNode):
    offset: int = 0

    def evaluate(self, resolve: Resolve) -> Any:
        return None


@dataclass(frozen=True)
class Call(ExpressionNode):
    name: str
    args: tuple[ExpressionNode, ...]
    impl: Impl = field(compare=False, repr=False)
    offset: int = 0

    def evaluate(self, resolve: Resolve) -> Any:
        return self.impl([arg.evaluate(resolve) for arg in self.args])


@dataclass(frozen=True)
class ExpressionComparison(ExpressionNode):
    operator: str
    left: ExpressionNode
    right: ExpressionNode
    offset: int = 0

    def evaluate(self, resolve: Resolve) -> Any:
        return compare(self.operator, self.left.evaluate(resolve), self.right.evaluate(resolve))


def compare(operator: str, left: Any, right: Any) -> bool:
    """Entra's IIF comparison: missing → false; numbers numerically; else case-sensitive text."""
    if left is None or right is None:
        return False
    left_number, right_number = number(left), number(right)
    a: Any
    b: Any
    if left_number is not None and right_number is not None:
        a, b = left_number, right_number
    else:
        a, b = text(left), text(right)
        if a is None or b is None:
            return False
    outcomes: dict[str, bool] = {
        "=": a == b,
        "<>": a != b,
        "<": a < b,
        "<=": a <= b,
        ">": a > b,
        ">=": a >= b,
    }
    return outcomes[operator]


@dataclass(frozen=True)
class Expression:
    """A compiled expression. ``attribute_paths`` are the SCIM paths it reads, in order."""

    text: str
    root: ExpressionNode
    attribute_paths: tuple[str, ...]

    def evaluate(self, resolve: Resolve) -> Any:
        """Evaluate with ``resolve(path) -> value | None`` reading the user's attributes."""
        return self.root.evaluate(resolve)


def compile_expression(source: str) -> Expression:
    """Parse and check ``source``; raise :class:`MappingError` (with ``offset``) if unusable."""
    if len(source) > MAX_EXPRESSION_LENGTH:
        raise _error(
            f"expression longer than {MAX_EXPRESSION_LENGTH} characters", MAX_EXPRESSION_LENGTH
        )
    parser = _Parser(_tokenize(source))
    root = parser.expression(0)
    parser.expect("end", "end of expression")
    return Expression(text=source, root=root, attribute_paths=tuple(parser.paths))


def _tokenize(source: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(source):
        char = source[pos]
        if char.isspace():
            pos += 1
        elif char == '"':
            value, end = _scan_string(source, pos)
            tokens.append(_Token("string", value, pos))
            pos = end
        elif char == "[":
            path, end = _scan_attribute(source, pos)
            tokens.append(_Token("attribute", path, pos))
            pos = end
        elif char in "(),":
            tokens.append(_Token(char, char, pos))
            pos += 1
        elif (number_match := _NUMBER.match(source, pos)) is not None:
            literal = number_match.group()
            parsed = float(literal) if number_match.group(1) else int(literal)
            tokens.append(_Token("number", parsed, pos))
            pos = number_match.end()
        elif (name_match := _NAME.match(source, pos)) is not None:
            tokens.append(_Token("name", name_match.group(), pos))
            pos = name_match.end()
        elif operator := next((op for op in COMPARISONS if source.startswith(op, pos)), None):
            tokens.append(_Token("op", operator, pos))
            pos += len(operator)
        else:
            raise _error(f"unexpected character {char!r}", pos)
    tokens.append(_Token("end", None, len(source)))
    return tokens


def _scan_string(source: str, start: int) -> tuple[str, int]:
    chars: list[str] = []
    pos = start + 1
    while pos < len(source):
        char = source[pos]
        if char == "\\" and pos + 1 < len(source):
            following = source[pos + 1]
            chars.append(following if following in '"\\' else char + following)
            pos += 2
        elif char == '"':
            return "".join(chars), pos + 1
        else:
            chars.append(char)
            pos += 1
    raise _error("unterminated string", start)


def _scan_attribute(source: str, start: int) -> tuple[str, int]:
    depth, pos, in_string = 0, start, False
    while pos < len(source):
        char = source[pos]
        if in_string:
            if char == "\\":
                pos += 1
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
            if depth == 0:
                path = source[start + 1 : pos]
                try:
                    parse_path(path)
                except PathError as exc:
                    raise _error(
                        f"bad attribute path: {exc.reason}", start + 1 + exc.offset
                    ) from exc
                return path, pos + 1
        pos += 1
    raise _error("unterminated attribute reference", start)


class _Parser:
    def __init__(self, tokens: list[_Token]) -> None:
        self.tokens = tokens
        self.index = 0
        self.paths: list[str] = []

    def peek(self) -> _Token:
        return self.tokens[self.index]

    def advance(self) -> _Token:
        token = self.tokens[self.index]
        if token.kind != "end":
            self.index += 1
        return token

    def expect(self, kind: str, what: str) -> _Token:
        token = self.advance()
        if token.kind != kind:
            raise _error(f"expected {what}, found {_describe(token)}", token.offset)
        return token

    def expression(self, depth: int) -> ExpressionNode:
        left = self.operand(depth)
        if self.peek().kind != "op":
            return left
        operator = self.advance()
        return ExpressionComparison(operator.value, left, self.operand(depth), operator.offset)

    def operand(self, depth: int) -> ExpressionNode:
        token = self.advance()
        if token.kind in ("string", "number"):
            return Constant(token.value, token.offset)
        if token.kind == "attribute":
            self.paths.append(token.value)
            return Attribute(token.value, token.offset)
        if token.kind == "name":
            if depth >= MAX_NESTING:
                raise _error(f"functions nested deeper than {MAX_NESTING}", token.offset)
            return self.call(token, depth)
        raise _error(
            f"expected a string, number, [attribute] or function call, found {_describe(token)}",
            token.offset,
        )

    def call(self, name: _Token, depth: int) -> Call:
        spec = FUNCTIONS.get(name.value.casefold())
        if spec is None:
            raise _error(f"unknown function {name.value!r}", name.offset)
        self.expect("(", f"'(' after {spec.name}")
        args: list[ExpressionNode] = []
        if self.peek().kind == ")":
            self.advance()
        else:
            while True:
                if self.peek().kind in (",", ")"):
                    args.append(EmptyArgument(self.peek().offset))
                else:
                    args.append(self.expression(depth + 1))
                separator = self.advance()
                if separator.kind == ")":
                    break
                if separator.kind != ",":
                    raise _error(
                        f"expected ',' or ')', found {_describe(separator)}", separator.offset
                    )
        return Call(spec.name, tuple(args), self._bind(spec.name, args, name.offset), name.offset)

    def _bind(self, name: str, args: list[ExpressionNode], offset: int) -> Impl:
        spec = FUNCTIONS[name.casefold()]
        if len(args) < spec.min_args or (spec.max_args is not None and len(args) > spec.max_args):
            if spec.min_args == spec.max_args:
                expected = str(spec.min_args)
            elif spec.max_args is None:
                expected = f"at least {spec.min_args}"
            else:
                expected = f"{spec.min_args} to {spec.max_args}"
            raise _error(f"{name} takes {expected} arguments, got {len(args)}", offset)
        shapes: list[ArgShape] = []
        for index, arg in enumerate(args):
            empty = isinstance(arg, EmptyArgument)
            if empty and index not in spec.may_be_empty:
                raise _error(f"argument {index + 1} of {name} may not be empty", arg.offset)
            literal = arg.value if isinstance(arg, Constant) else NOT_LITERAL
            if index in spec.integers and literal is not NOT_LITERAL and integer(literal) is None:
                raise _error(f"argument {index + 1} of {name} must be a whole number", arg.offset)
            shapes.append(ArgShape(empty=empty, literal=literal))
        try:
            return spec.bind(shapes)
        except ArgumentError as exc:
            at = offset if exc.index is None else args[exc.index].offset
            raise _error(f"{name}: {exc}", at) from exc


def _describe(token: _Token) -> str:
    if token.kind == "end":
        return "end of expression"
    if token.kind == "string":
        return "a string"
    return repr(token.value)
