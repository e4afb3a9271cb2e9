"""The small expression language of `depends` and `when`.

    depends: extract.Succeeded && (validate.Succeeded || validate.Skipped)
    when:    {{params.env}} == prod && {{tasks.count.outputs.rows}} > 0

Operators: `||`, `&&`, `!`, parentheses, and in `when` the comparisons `==`, `!=`, `<`,
`<=`, `>`, `>=` (numbers compare as numbers, anything else as text). In `depends`, `a`
alone means `a.Succeeded`. `{{...}}` references are parsed as single values, so a value
containing spaces or operators can never change the meaning of an expression.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

TASK_RESULTS = (
    "Succeeded",
    "Failed",
    "Skipped",
    "Completed",  # Succeeded or Failed
    "AnySucceeded",  # fan-out: at least one item succeeded
    "AllFailed",  # fan-out: every item failed
    "AnyFailed",
)

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<ref>\{\{.*?\}\})
      | (?P<op>\|\||&&|==|!=|<=|>=|<|>|!|\(|\))
      | (?P<string>'[^']*'|"[^"]*")
      | (?P<word>[A-Za-z0-9_.\-]+)
    )""",
    re.VERBOSE,
)


# Parentheses and `!` nest at most this deep: the parser and the evaluator recurse, and an
# expression is user input (issue 6: no value may crash a planning pass).
MAX_NESTING = 64
# `a && b && ...` builds a tree as deep as it has operators; this keeps it well inside
# Python's recursion limit.
MAX_OPERATORS = 256


class ExpressionError(ValueError):
    pass


@dataclass(frozen=True)
class Literal:
    text: str


@dataclass(frozen=True)
class Reference:
    """A `{{...}}` reference, resolved when the expression is evaluated."""

    text: str


@dataclass(frozen=True)
class Not:
    operand: Expression


@dataclass(frozen=True)
class Binary:
    operator: str
    left: Expression
    right: Expression


Expression = Literal | Reference | Not | Binary


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens, position = [], 0
    text = text.strip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise ExpressionError(f"unexpected {text[position : position + 10]!r} at {position}")
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind)))
        position = match.end()
    return tokens


class _Parser:
    def __init__(self, text: str, *, comparisons: bool) -> None:
        self.tokens = _tokens(text)
        self.position = 0
        self.comparisons = comparisons
        self.depth = 0
        self.operators = 0
        if not self.tokens:
            raise ExpressionError("empty expression")

    def peek(self) -> str | None:
        return self.tokens[self.position][1] if self.position < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        if self.position >= len(self.tokens):
            raise ExpressionError("unexpected end of expression")
        token = self.tokens[self.position]
        self.position += 1
        return token

    def parse(self) -> Expression:
        expression = self.disjunction()
        if self.position != len(self.tokens):
            raise ExpressionError(f"unexpected {self.tokens[self.position][1]!r}")
        return expression

    def disjunction(self) -> Expression:
        left = self.conjunction()
        while self.peek() == "||":
            self.take()
            self.counted()
            left = Binary("||", left, self.conjunction())
        return left

    def conjunction(self) -> Expression:
        left = self.negation()
        while self.peek() == "&&":
            self.take()
            self.counted()
            left = Binary("&&", left, self.negation())
        return left

    def counted(self) -> None:
        self.operators += 1
        if self.operators > MAX_OPERATORS:
            raise ExpressionError(f"more than {MAX_OPERATORS} operators")

    def nested(self) -> None:
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise ExpressionError(f"nested deeper than {MAX_NESTING} levels")

    def negation(self) -> Expression:
        if self.peek() == "!":
            self.take()
            self.nested()
            operand = self.negation()
            self.depth -= 1
            return Not(operand)
        return self.comparison()

    def comparison(self) -> Expression:
        left = self.atom()
        if self.peek() in ("==", "!=", "<", "<=", ">", ">="):
            if not self.comparisons:
                raise ExpressionError(f"{self.peek()!r} is not allowed here")
            operator = self.take()[1]
            return Binary(operator, left, self.atom())
        return left

    def atom(self) -> Expression:
        kind, value = self.take()
        if value == "(":
            self.nested()
            inner = self.disjunction()
            if self.take()[1] != ")":
                raise ExpressionError("missing ')'")
            self.depth -= 1
            return inner
        if kind == "ref":
            return Reference(value)
        if kind == "string":
            return Literal(value[1:-1])
        if kind == "word":
            return Literal(value)
        raise ExpressionError(f"unexpected {value!r}")


def parse_depends(text: str) -> Expression:
    """Parses a `depends` expression and checks every term is `task` or `task.Result`."""
    expression = _Parser(text, comparisons=False).parse()
    for term in _terms(expression):
        if isinstance(term, Reference):
            raise ExpressionError("references are not allowed in depends")
        task, _, result = term.text.partition(".")
        if result and result not in TASK_RESULTS:
            raise ExpressionError(
                f"unknown result {result!r} of {task!r} (one of {', '.join(TASK_RESULTS)})"
            )
    return expression


def depends_tasks(expression: Expression) -> set[str]:
    return {term.text.partition(".")[0] for term in _terms(expression)}


def parse_when(text: str) -> Expression:
    return _Parser(text, comparisons=True).parse()


def references(expression: Expression) -> list[str]:
    return [term.text for term in _terms(expression) if isinstance(term, Reference)]


def _terms(expression: Expression) -> list[Literal | Reference]:
    if isinstance(expression, Literal | Reference):
        return [expression]
    if isinstance(expression, Not):
        return _terms(expression.operand)
    return [*_terms(expression.left), *_terms(expression.right)]


def evaluate_depends(expression: Expression, result: Callable[[str, str], bool]) -> bool:
    """`result(task, "Succeeded")` answers one term."""

    def value(node: Expression) -> bool:
        if isinstance(node, Literal):
            task, _, outcome = node.text.partition(".")
            return result(task, outcome or "Succeeded")
        if isinstance(node, Not):
            return not value(node.operand)
        if isinstance(node, Binary):
            if node.operator == "&&":
                return value(node.left) and value(node.right)
            return value(node.left) or value(node.right)
        raise ExpressionError(f"unexpected {node!r}")

    return value(expression)


def evaluate_when(
    expression: Expression, resolve: Mapping[str, str] | Callable[[str], str]
) -> bool:
    """Evaluates a `when` expression; `resolve` gives the value of each `{{...}}`."""

    def text(node: Expression) -> str:
        if isinstance(node, Literal):
            return node.text
        if isinstance(node, Reference):
            return resolve[node.text] if isinstance(resolve, Mapping) else resolve(node.text)
        return "true" if truth(node) else "false"

    def truth(node: Expression) -> bool:
        if isinstance(node, Not):
            return not truth(node.operand)
        if isinstance(node, Binary):
            if node.operator == "&&":
                return truth(node.left) and truth(node.right)
            if node.operator == "||":
                return truth(node.left) or truth(node.right)
            return _compare(node.operator, text(node.left), text(node.right))
        value = text(node).strip().lower()
        if value in ("true", "false"):
            return value == "true"
        raise ExpressionError(f"{text(node)!r} is not true or false")

    return truth(expression)


def _compare(operator: str, left: str, right: str) -> bool:
    try:
        a: float | str = float(left)
        b: float | str = float(right)
    except ValueError:
        a, b = left, right
    if operator == "==":
        return a == b
    if operator == "!=":
        return a != b
    if type(a) is not type(b):
        raise ExpressionError(f"cannot order {left!r} and {right!r}")
    if operator == "<":
        return a < b  # type: ignore[operator]
    if operator == "<=":
        return a <= b  # type: ignore[operator]
    if operator == ">":
        return a > b  # type: ignore[operator]
    return a >= b  # type: ignore[operator]
