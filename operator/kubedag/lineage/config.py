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
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from openlineage.client import OpenLineageClient

from kubedag.lineage.events import DEFAULT_NAMESPACE_BASE, Naming


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


def make_client() -> OpenLineageClient | None:
    """The client, with the transport its configuration names; None when lineage is off."""
    if not lineage_configured():
        return None
    return OpenLineageClient()
