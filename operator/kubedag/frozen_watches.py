"""A WARNING when a watch stream is found frozen.

kubedag's watch caches (kubedag.k8s.watch_cache) end a watch request that has delivered
nothing, not even a bookmark, for `INACTIVITY_TIMEOUT_SECONDS` and start a new one from the
last resource version seen, so nothing is lost; they say so at DEBUG only ("Watch-stream for
jobs.v1.batch is inactive, reconnecting.", the line Kopf logged when it ran the watches).

That alone does not mean the watch was frozen. The API server sends a watch a bookmark only
when the resource's own resource version has moved on (k8s.io/apiserver cacher: a bookmark
must be newer than what the watcher has seen), so a resource nobody writes — no Workflow
created for a while — is silent too, and its watch is restarted every 70 s (measured on the
local control plane under Kopf: the Workflow and CRD watches of an idle operator). A warning
for each would be noise that teaches people to ignore warnings.

What tells a frozen watch from a quiet one is what the restart brings: the new request
starts from the last resource version seen, so the API server replays at once every change
the frozen one held back. `WatchMonitor` is told of each restart and each event; an event of
the same resource within a few seconds of its restart is a change that waited, and that gets
the WARNING, naming the resource.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

# A frozen watch is found within this long: kopf's default, kept. On a busy
# resource, bookmarks and events come far more often; 70 s also stays under the 75 s for
# which the API server's watch cache keeps events, so the restart resumes from the cache
# instead of a full relist.
INACTIVITY_TIMEOUT_SECONDS = 70.0
# After a restart, events arriving this soon were waiting behind the frozen stream (the
# API server sends them first). A resource quiet for 70 s that changes in exactly these
# seconds is taken for frozen once: rare, and harmless.
REPLAY_WINDOW_SECONDS = 5.0


logger = logging.getLogger(__name__)


class WatchMonitor:
    """Restarts of idle watches, and the events that follow them, per resource
    (`jobs.v1.batch`, as Kubernetes' plural.version.group)."""

    def __init__(
        self,
        *,
        timeout: float = INACTIVITY_TIMEOUT_SECONDS,
        replay_window: float = REPLAY_WINDOW_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.timeout = timeout
        self.replay_window = replay_window
        self.clock = clock
        self.restarts: dict[str, float] = {}

    def restarted(self, resource: str) -> None:
        self.restarts[resource] = self.clock()

    def saw_event(self, resource: str) -> None:
        restarted_at = self.restarts.pop(resource, None)
        if restarted_at is not None and self.clock() - restarted_at <= self.replay_window:
            logger.warning(
                "the watch of %s was frozen: it delivered nothing for %g s, and changes made "
                "meanwhile arrived only once it was restarted (from the last resource "
                "version seen, so none was lost)",
                resource,
                self.timeout,
            )
