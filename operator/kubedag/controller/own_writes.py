"""Remembers the operator's own recent writes until the watches show them.

Watches of different resources arrive independently: right after creating a Job and
writing "Running" on its Task, a pass may be woken by the Job's event while the Task's
index entry still shows the old status. Without this memory the planner would see a stale
Task and write it again. Entries are dropped as soon as the index has caught up.
"""

from __future__ import annotations

import time
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

Value = TypeVar("Value")
Key = Hashable

# A created Job that is still not visible after this long is asked for again (the create
# is idempotent), in case it was deleted in between.
CREATED_JOB_MEMORY_SECONDS = 60.0


def is_newer_or_same(seen: str, written: str) -> bool:
    """Whether the watched resourceVersion has caught up with our write. The API treats
    versions as opaque; etcd-backed servers give increasing integers, and if they do not
    parse we assume the watch caught up rather than keep a stale entry forever."""
    try:
        return int(seen) >= int(written)
    except ValueError:
        return True


@dataclass
class WrittenValues(Generic[Value]):
    """Values we wrote, each with the resourceVersion the API server answered with."""

    entries: dict[Key, tuple[str, Value]] = field(default_factory=dict)

    def remember(self, key: Key, resource_version: str, value: Value) -> None:
        self.entries[key] = (resource_version, value)

    def overlay(self, key: Key, seen_resource_version: str | None, seen: Value) -> Value:
        """Our written value if the watch has not caught up with it yet, else `seen`."""
        entry = self.entries.get(key)
        if entry is None:
            return seen
        written_version, written = entry
        if seen_resource_version is not None and is_newer_or_same(
            seen_resource_version, written_version
        ):
            del self.entries[key]
            return seen
        return written

    def forget(self, prefix: Hashable) -> None:
        for key in [k for k in self.entries if isinstance(k, tuple) and k[0] == prefix]:
            del self.entries[key]


@dataclass
class CreatedObjects:
    """Objects we created that the watch has not delivered yet."""

    created_at: dict[Key, float] = field(default_factory=dict)

    def remember(self, key: Key) -> None:
        self.created_at[key] = time.monotonic()

    def recently_created(self, key: Key) -> bool:
        created = self.created_at.get(key)
        return created is not None and time.monotonic() - created < CREATED_JOB_MEMORY_SECONDS

    def recent(self, prefix: Hashable) -> list[tuple[Any, ...]]:
        """The (tuple) keys under `prefix` created recently and not seen yet."""
        return [
            key
            for key in self.created_at
            if isinstance(key, tuple) and key[0] == prefix and self.recently_created(key)
        ]

    def seen(self, key: Key) -> None:
        self.created_at.pop(key, None)

    def forget(self, prefix: Hashable) -> None:
        for key in [k for k in self.created_at if isinstance(k, tuple) and k[0] == prefix]:
            del self.created_at[key]
