"""How a field's place in an object is written: `spec.tasks[0].name`, as the API server
writes it. Its own module so that the operator's validation (kubedag.validation) does not
load the schema validator's CEL and JSON Schema libraries."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def format_path(parts: Sequence[str | int] | Any) -> str:
    """spec.tasks[0].name, the way the API server writes a field's path."""
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text
