"""Runs kubedag's Argo CD health checks (examples/gitops/argocd/health/*.lua) the way Argo
CD does: in gopher-lua, the Lua 5.1 VM Argo CD embeds (its `glua` command, built from the
Go module proxy by hack/install-glua.sh), with the object in the global `obj` and only the
libraries Argo CD opens for a health script (base, table, string, math: no io, no os), and
checks that the returned table is a health status Argo CD accepts.

Argo CD's contract (argo-cd.readthedocs.io, operator-manual/health, "Custom Health
Checks"): the argocd-cm key `resource.customizations.health.<group>_<kind>` holds a Lua
script; it gets the live object as `obj` (JSON decoded into Lua tables: objects and arrays
become tables, arrays indexed from 1, null becomes nil) and returns a table whose `status`
is one of Healthy, Progressing, Degraded, Suspended, Missing, Unknown, with a `message`.
"""

from __future__ import annotations

import json
import math
import subprocess
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
HEALTH_DIR = ROOT / "examples" / "gitops" / "argocd" / "health"
STATUSES = {"Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown"}
SEPARATOR = "\x1e"  # between status and message in the harness's output

_glua: str | None = None


def glua() -> str:
    """The glua binary (built once, cached in ~/.cache/kubedag/bin)."""
    global _glua
    if _glua is None:
        result = subprocess.run(
            [str(ROOT / "hack" / "install-glua.sh")], capture_output=True, text=True, check=False
        )
        assert result.returncode == 0, result.stderr[-3000:]
        _glua = result.stdout.strip().splitlines()[-1]
    return _glua


def script_for(group: str, kind: str) -> Path:
    """The health check file of group/kind, named after its argocd-cm key's suffix."""
    return HEALTH_DIR / f"{group}_{kind}.lua"


def lua_literal(value: Any) -> str:
    """`value` (JSON data) as a Lua expression, decoded as Argo CD decodes JSON."""
    if value is None:
        return "nil"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"not a JSON number: {value}")
        return repr(value)
    if isinstance(value, str):
        return lua_string(value)
    if isinstance(value, list):
        return "{" + ",".join(f"[{i}]={lua_literal(v)}" for i, v in enumerate(value, 1)) + "}"
    if isinstance(value, dict):
        return "{" + ",".join(f"[{lua_string(k)}]={lua_literal(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"not JSON data: {type(value).__name__}")


def lua_string(text: str) -> str:
    """A Lua 5.1 string literal of `text`'s UTF-8 bytes (decimal escapes where needed)."""
    out = []
    for byte in text.encode():
        char = chr(byte)
        if 32 <= byte < 127 and char not in '"\\':
            out.append(char)
        else:
            out.append(f"\\{byte}")
    return '"' + "".join(out) + '"'


HARNESS = """
local check = assert(loadfile({script}))
local env = {{
  obj = {obj},
  assert = assert, error = error, ipairs = ipairs, next = next, pairs = pairs,
  pcall = pcall, select = select, tonumber = tonumber, tostring = tostring, type = type,
  unpack = unpack, table = table, string = string, math = math,
}}
setfenv(check, env)
local hs = check()
if type(hs) ~= "table" then
  error("the health check returned " .. type(hs) .. ", not a table")
end
io.write(tostring(hs.status), "\\30", tostring(hs.message))
"""


def run_health_check(script: Path, obj: dict[str, Any]) -> tuple[str, str]:
    """(hs.status, hs.message) of `script` for `obj`; AssertionError if glua fails, the
    script errors, or the status is not one Argo CD knows."""
    program = HARNESS.format(script=lua_string(str(script)), obj=lua_literal(obj))
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "harness.lua"
        path.write_text(program)
        result = subprocess.run(
            [glua(), str(path)], capture_output=True, text=True, check=False, timeout=60
        )
    assert result.returncode == 0 and not result.stderr, (
        f"{script.name}: {result.stdout}{result.stderr}"
    )
    status, _, message = result.stdout.partition(SEPARATOR)
    assert status in STATUSES, f"{script.name} returned status {status!r}"
    return status, message


def health_of(obj: dict[str, Any]) -> tuple[str, str]:
    """The health of a kubedag object, by its own apiVersion and kind."""
    group = obj["apiVersion"].split("/")[0]
    return run_health_check(script_for(group, obj["kind"]), obj)


def load_fixture(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(path.read_text())
    return document
