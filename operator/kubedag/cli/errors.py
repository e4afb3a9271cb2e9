"""Exit codes of the `kubedag` command and the one error type its verbs raise.

A verb reports a user mistake or a refusal by raising `CliError(message, code)`; `main`
prints `kubedag: <message>` on stderr and exits with the code, never a traceback
(issue 11). Codes (documented in the README's CLI section):

| code | meaning |
|---|---|
| 0 | done (for `submit --wait`, `watch`: the run Succeeded) |
| 1 | the run ended Failed (`--wait`, `--watch`, `watch`), `lint` found an error, |
|   | or the API server refused a create |
| 2 | usage: an unknown flag or verb, a bad value (click's own code for usage errors) |
| 3 | not found: the Workflow, Task, template, CronWorkflow or Pod does not exist |
| 4 | the cluster cannot be used: no kubeconfig, unknown context, unreachable, forbidden |
| 5 | refused in this state: retry of a run that has not failed, stop of a finished run, ... |
| 124 | `--timeout` passed before the run ended (as coreutils' `timeout`) |
| 130 | interrupted (Ctrl-C) |
| 141 | stdout closed early (`kubedag list | head`): quietly, as a process killed by SIGPIPE |
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    RUN_FAILED = 1
    USAGE = 2
    NOT_FOUND = 3
    CLUSTER = 4
    REFUSED = 5
    TIMEOUT = 124
    INTERRUPTED = 130
    BROKEN_PIPE = 141


class CliError(Exception):
    """A reason for the user (one line, no traceback) and the exit code it maps to."""

    def __init__(self, message: str, code: ExitCode = ExitCode.RUN_FAILED) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def api_error(error: BaseException, what: str) -> CliError:
    """A lightkube ApiError (or an httpx transport error) about `what` ("Workflow 'etl' in
    namespace 'data'") as a CliError: 404 → NOT_FOUND, 401/403 → CLUSTER, 409/422 → REFUSED
    with the API server's message; a connection error → CLUSTER."""
    status = getattr(error, "status", None)
    code = getattr(status, "code", None)
    message = getattr(status, "message", None) or str(error)
    if code == 404:
        return CliError(f"{what} not found", ExitCode.NOT_FOUND)
    if code in (401, 403):
        return CliError(f"{what}: {message}", ExitCode.CLUSTER)
    if code is None:
        return CliError(f"cannot reach the API server: {message}", ExitCode.CLUSTER)
    return CliError(f"{what}: {message}", ExitCode.REFUSED)
