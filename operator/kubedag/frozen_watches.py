"""A WARNING when a watch stream is found frozen.

Kopf (1.44 and later, kopf/_cogs/clients/watching.py) ends a watch request that has
delivered nothing for `settings.watching.inactivity_timeout` seconds and starts a new one
from the last resource version it saw, so nothing is lost; but it says so at DEBUG only
("Watch-stream for jobs.v1.batch cluster-wide is inactive, reconnecting."). Nothing is
normally that quiet: the API server sends every watch a bookmark about once a minute
(k8s.io/apiserver cacher, defaultBookmarkFrequency), however idle the resource. So the
line means the operator was blind to that resource for the whole window (a connection
dropped without a FIN, a stuck proxy or load balancer), and an operator's log should
show it. `install` raises that one record to WARNING and leaves every other record of
kopf's watching logger at the level it would have had.
"""

from __future__ import annotations

import logging
import re

# Kubernetes sends a bookmark about every 60 s; 70 s leaves room for jitter, and stays
# under the 75 s for which the API server's watch cache keeps events (the restart then
# resumes from the cache instead of a full relist). Kopf's default, set here on purpose.
INACTIVITY_TIMEOUT_SECONDS = 70.0

WATCHING_LOGGER = "kopf._cogs.clients.watching"
_INACTIVE = re.compile(
    r"^Watch-stream for (?P<resource>\S+) (?P<where>cluster-wide|in .+) is inactive, reconnecting"
)


class FrozenWatchWarning(logging.Filter):
    """Rewrites kopf's "watch-stream is inactive" record as a WARNING naming the resource;
    drops the watching logger's other records below the level configured above it."""

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self.timeout = timeout

    def filter(self, record: logging.LogRecord) -> bool:
        match = _INACTIVE.match(record.getMessage())
        if match is None:
            # `install` lowered this logger to DEBUG to see the one record above; every
            # other record passes only if the logger's parents would have let it through.
            parent = logging.getLogger(record.name).parent or logging.getLogger()
            return record.levelno >= parent.getEffectiveLevel()
        record.msg = (
            "the watch of %s (%s) delivered nothing, not even a bookmark, for %g s: "
            "restarting it from the last resource version seen"
        )
        record.args = (match["resource"], match["where"], self.timeout)
        record.levelno = logging.WARNING
        record.levelname = logging.getLevelName(logging.WARNING)
        return True


def install(timeout: float = INACTIVITY_TIMEOUT_SECONDS) -> None:
    """Makes kopf's frozen-watch record a WARNING (once per process)."""
    logger = logging.getLogger(WATCHING_LOGGER)
    if not any(isinstance(f, FrozenWatchWarning) for f in logger.filters):
        logger.addFilter(FrozenWatchWarning(timeout))
    # Kopf logs the record at DEBUG: without this, the logger would drop it before any
    # filter sees it whenever the operator runs at INFO.
    logger.setLevel(logging.DEBUG)
