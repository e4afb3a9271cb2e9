"""JSON values that come from users — fan-out items, upstream outputs — read with bounds.

A value nested thousands of levels deep is valid JSON and the API server stores it, but
Python's parser and serializer recurse once per level and raise RecursionError past about
a thousand (issue 6: one such value stopped the operator for every workflow). Every user
value the planner reads or renders goes through here first, so a bad one fails only the
task it belongs to.
"""

from __future__ import annotations

import json
from typing import Any

# Deeper than any real item or output (a few levels); far below the interpreter's limit.
MAX_DEPTH = 32


def nesting_depth(value: Any, *, limit: int = MAX_DEPTH) -> int:
    """How deep lists and objects nest in `value` (a scalar is 0), counted without
    recursion; stops counting at `limit + 1`."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        current, depth = stack.pop()
        if isinstance(current, dict):
            children = list(current.values())
        elif isinstance(current, list):
            children = list(current)
        else:
            continue
        depth += 1
        deepest = max(deepest, depth)
        if deepest > limit:
            return deepest
        stack.extend((child, depth) for child in children)
    return deepest


def depth_problem(value: Any) -> str | None:
    """Why `value` cannot be used (nested deeper than MAX_DEPTH), or None."""
    if nesting_depth(value) > MAX_DEPTH:
        return f"is nested deeper than {MAX_DEPTH} levels"
    return None


class JsonProblem(ValueError):
    """Text that is not usable JSON; the message says why (the parser's own words)."""


def parse_json(text: str) -> Any:
    """The JSON value of `text`, nested at most MAX_DEPTH levels.

    Raises JsonProblem with the parse error (`Expecting value: line 1 column 1 (char 0)`)
    or the depth."""
    try:
        value = json.loads(text)
    except ValueError as error:
        # JSONDecodeError, or an integer past Python's 4,300 digits (issue 6).
        raise JsonProblem(f"not valid JSON ({str(error)[:200]})") from error
    except RecursionError as error:
        raise JsonProblem(f"not usable JSON: nested deeper than {MAX_DEPTH} levels") from error
    problem = depth_problem(value)
    if problem:
        raise JsonProblem(f"not usable JSON: {problem}")
    return value
