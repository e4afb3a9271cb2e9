"""When a failed attempt is tried again, and after how long. Pure."""

from __future__ import annotations

import math

from kubedag.api.workflow import MAX_SECONDS, RetryPolicy, RetryStrategy


def failure_kind(
    *, exit_code: int | None, reason: str | None, disrupted: bool = False
) -> RetryPolicy:
    """OnError when the infrastructure failed the attempt: Kubernetes marked its Pod as
    disrupted (evicted, preempted, ...; the killed container may still report 137 or 143),
    or the Pod went away without its container reporting an exit code. OnFailure when the
    container itself failed (an exit code, a timeout, a missing output)."""
    if disrupted:
        return RetryPolicy.ON_ERROR
    if exit_code is not None or reason in ("DeadlineExceeded", "OutputsMissing"):
        return RetryPolicy.ON_FAILURE
    return RetryPolicy.ON_ERROR


def should_retry(strategy: RetryStrategy | None, *, retries_used: int, kind: RetryPolicy) -> bool:
    if strategy is None or retries_used >= strategy.limit:
        return False
    return strategy.retry_policy in (RetryPolicy.ALWAYS, kind)


def backoff_seconds(strategy: RetryStrategy, retry_number: int) -> float:
    """Delay before retry `retry_number` (1 for the first retry)."""
    if strategy.backoff is None:
        return 0.0
    backoff = strategy.backoff
    # In logarithms: a large factor to the 100th power overflows a float (issue 6).
    delay = float(MAX_SECONDS)
    if backoff.delay_seconds == 0:
        delay = 0.0
    elif math.log(backoff.delay_seconds) + (retry_number - 1) * math.log(backoff.factor) < (
        math.log(MAX_SECONDS)
    ):
        delay = backoff.delay_seconds * backoff.factor ** (retry_number - 1)
    if backoff.max_delay_seconds is not None:
        delay = min(delay, backoff.max_delay_seconds)
    return float(min(delay, MAX_SECONDS))
