"""Whether lineage is on, and the client that sends it (issue 10).

kubedag is configured the way every openlineage-python integration is (OpenLineage docs,
"Python client" → "Configuration"), and the client reads that configuration itself:

- `OPENLINEAGE_URL` (with `OPENLINEAGE_ENDPOINT`, `OPENLINEAGE_API_KEY`): HTTP;
- a YAML file: `OPENLINEAGE_CONFIG`, else `openlineage.yml` in the working directory, else
  `~/.openlineage/openlineage.yml` (`transport: {type: http | console | file | kafka |
  composite ...}`);
- variables `OPENLINEAGE__TRANSPORT__...` (`OPENLINEAGE__TRANSPORT__TYPE=console`).

Lineage is off, and costs nothing (no client, no delivery task, no watch callback work),
when none of them is set, or when `OPENLINEAGE_DISABLED=true`: the client itself would
fall back to printing every event on the console, which an operator must not do unasked.
`OPENLINEAGE_NAMESPACE` sets the base of the job namespaces (kubedag.lineage.events).

A configuration that cannot be used (a malformed `OPENLINEAGE_URL`, an `OPENLINEAGE_CONFIG`
that names no file, a file that is not YAML or names no transport, a transport the client
refuses) does not stop the operator, and the client does not fall back to printing events
on the console (what openlineage-python does with a file it cannot read): `make_client`
logs the reason and returns an `UnusableClient` whose `emit` raises it, so events wait in
the backlog, their Workflows say why (condition LineageDelivered, kubedag.lineage.delivery)
and they are sent once the operator restarts with a fixed configuration.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from openlineage.client import OpenLineageClient

from kubedag.lineage.events import DEFAULT_NAMESPACE_BASE, Naming

logger = logging.getLogger(__name__)


class LineageConfigError(Exception):
    """The OpenLineage configuration cannot be used (the message says why)."""


class UnusableClient:
    """Stands in for the client when the configuration cannot be used: every `emit`
    raises LineageConfigError with the reason (module docstring)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def emit(self, event: Any) -> None:
        raise LineageConfigError(self.reason)


def config_file(environ: Mapping[str, str], cwd: Path, home: Path) -> Path | None:
    """The YAML file the client would read, in its order; None when there is none."""
    named = environ.get("OPENLINEAGE_CONFIG")
    if named:
        return Path(named)
    for candidate in (cwd / "openlineage.yml", home / ".openlineage" / "openlineage.yml"):
        if candidate.is_file():
            return candidate
    return None


def lineage_configured(
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    home: Path | None = None,
) -> bool:
    """Whether any OpenLineage transport is configured (module docstring)."""
    environ = os.environ if environ is None else environ
    if environ.get("OPENLINEAGE_DISABLED", "").strip().lower() == "true":
        return False
    if environ.get("OPENLINEAGE_URL"):
        return True
    if any(name.startswith("OPENLINEAGE__TRANSPORT") for name in environ):
        return True
    return config_file(environ, cwd or Path.cwd(), home or Path.home()) is not None


def naming(environ: Mapping[str, str] | None = None) -> Naming:
    environ = os.environ if environ is None else environ
    return Naming(environ.get("OPENLINEAGE_NAMESPACE") or DEFAULT_NAMESPACE_BASE)


def config_file_problem(path: Path) -> str | None:
    """Why the YAML file `path` cannot configure the client, or None."""
    if not path.is_file():
        return f"the OpenLineage configuration file {path} does not exist"
    try:
        content = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        return f"the OpenLineage configuration file {path} cannot be read: {error}"
    except yaml.YAMLError as error:
        return f"the OpenLineage configuration file {path} is not valid YAML: {error}"
    transport = content.get("transport") if isinstance(content, dict) else None
    if not isinstance(transport, dict) or not transport.get("type"):
        return (
            f"the OpenLineage configuration file {path} names no transport "
            "(transport: {type: http | console | file | kafka | composite, ...})"
        )
    return None


def make_client(
    environ: Mapping[str, str] | None = None, cwd: Path | None = None, home: Path | None = None
) -> OpenLineageClient | UnusableClient | None:
    """The client, with the transport its configuration names; None when lineage is off;
    an UnusableClient when the configuration cannot be used (module docstring). Never
    raises."""
    environ = os.environ if environ is None else environ
    cwd, home = cwd or Path.cwd(), home or Path.home()
    if not lineage_configured(environ, cwd, home):
        return None
    problem = None
    explicit = any(name.startswith("OPENLINEAGE__TRANSPORT") for name in environ)
    path = config_file(environ, cwd, home)
    if path is not None and not environ.get("OPENLINEAGE_URL") and not explicit:
        problem = config_file_problem(path)
    elif path is not None and not path.is_file():
        # OPENLINEAGE_URL or OPENLINEAGE__TRANSPORT__* configure the client without it.
        logger.warning("the OpenLineage configuration file %s does not exist", path)
    if problem is None:
        try:
            client = OpenLineageClient()
        except Exception as error:  # the client's own checks: a URL, a transport's settings
            problem = f"the OpenLineage client refuses its configuration: {error}"
        else:
            named = (client.config.transport or {}).get("type")
            if named or environ.get("OPENLINEAGE_URL"):
                return client
            # OPENLINEAGE__TRANSPORT__URL alone: the client fell back to the console.
            problem = "the OpenLineage configuration names no transport type"
    logger.error("OpenLineage events wait until the operator restarts: %s", problem)
    return UnusableClient(problem)
