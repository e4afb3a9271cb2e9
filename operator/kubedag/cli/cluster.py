"""Which cluster and namespace a verb talks to, as kubectl chooses them.

`--kubeconfig` (else `$KUBECONFIG`, else `~/.kube/config`; in a Pod, its service account),
`--context` (else the kubeconfig's current context), `-n` (else the context's namespace,
else `default`), `-A` for every namespace. lightkube is imported only when a verb needs
the cluster, so `kubedag version` and `kubedag lint` never pay for it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from kubedag.cli.errors import CliError, ExitCode


@dataclass(frozen=True)
class Target:
    """The cluster flags of one invocation, as typed (None: not given)."""

    kubeconfig: str | None = None
    context: str | None = None
    namespace: str | None = None
    all_namespaces: bool = False


@dataclass
class Connection:
    client: Any  # lightkube.Client
    namespace: str  # -n, else the context's namespace, else "default"
    all_namespaces: bool

    @property
    def list_namespace(self) -> str:
        """The namespace argument of a list: `*` (lightkube's "all") with -A."""
        return "*" if self.all_namespaces else self.namespace


def _merged_kubeconfig(paths: list[str]) -> tuple[dict[str, Any], str]:
    """The kubeconfig files of a `$KUBECONFIG` list merged as kubectl merges them
    (https://kubernetes.io/docs/concepts/configuration/organize-cluster-access-kubeconfig/,
    "Merging kubeconfig files"): files that do not exist are skipped; the first file to set
    current-context, or to define a cluster, user or context of a given name, wins.
    Returns the merged dict and the first file read (relative paths are read from there).
    Raises ConfigError when none exists; yaml.YAMLError for a file that is not YAML."""
    import yaml
    from lightkube.core.exceptions import ConfigError

    merged: dict[str, Any] = {"apiVersion": "v1", "kind": "Config"}
    first = ""
    for path in paths:
        expanded = os.path.expanduser(path)
        if not os.path.isfile(expanded):
            continue
        with open(expanded) as file:
            content = yaml.safe_load(file) or {}
        if not isinstance(content, dict):
            raise ValueError(f"{path} is not a kubeconfig (a mapping)")
        first = first or expanded
        if content.get("current-context") and not merged.get("current-context"):
            merged["current-context"] = content["current-context"]
        for section in ("clusters", "users", "contexts"):
            known = merged.setdefault(section, [])
            names = {entry.get("name") for entry in known}
            for entry in content.get(section) or []:
                if isinstance(entry, dict) and entry.get("name") not in names:
                    known.append(entry)
                    names.add(entry.get("name"))
    if not first:
        raise ConfigError(f"none of the kubeconfig files {os.pathsep.join(paths)} exists")
    return merged, first


def _load_config(target: Target, environ: Mapping[str, str]) -> Any:
    """The KubeConfig of `target`: --kubeconfig, else in a Pod its service account, else
    `$KUBECONFIG` (one file, or a list kubectl would merge), else ~/.kube/config."""
    from lightkube import KubeConfig
    from lightkube.core.exceptions import ConfigError

    if target.kubeconfig:
        return KubeConfig.from_file(target.kubeconfig)
    paths = [path for path in environ.get("KUBECONFIG", "").split(os.pathsep) if path]
    if len(paths) <= 1:
        try:
            return KubeConfig.from_service_account()
        except ConfigError:
            return KubeConfig.from_file(paths[0] if paths else "~/.kube/config")
    merged, first = _merged_kubeconfig(paths)
    return KubeConfig.from_dict(merged, fname=first)


def _make_client_from(target: Target, environ: Mapping[str, str]) -> tuple[Any, str]:
    """A lightkube Client and the namespace for `target`. Raises CliError(CLUSTER) with
    the reason when the kubeconfig cannot be read or used (not YAML, a context naming no
    cluster, a certificate file that is missing or not a certificate)."""
    import ssl

    import yaml
    from lightkube import Client
    from lightkube.core.exceptions import ConfigError

    try:
        config = _load_config(target, environ)
        single = config.get(context_name=target.context)
    except ConfigError as error:
        raise CliError(f"kubeconfig: {error}", ExitCode.CLUSTER) from None
    except yaml.YAMLError as error:
        where = " ".join(str(error).split())
        raise CliError(f"kubeconfig: not YAML: {where}", ExitCode.CLUSTER) from None
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        # A file that is not a kubeconfig (YAML of something else, a context naming a
        # cluster that is not there): lightkube reads it as a dict and fails on a key.
        raise CliError(f"kubeconfig: cannot read it ({error!r})", ExitCode.CLUSTER) from None
    assert single is not None
    if single.user is None:
        # kubectl accepts a context without a user (anonymous); lightkube asserts one.
        from lightkube.config.models import User

        single = single._replace(user=User())
    namespace = target.namespace or single.namespace
    try:
        # The TLS settings (certificate files and data) are read here.
        client = Client(config=single, namespace=namespace, field_manager="kubedag-cli")
    except (OSError, ssl.SSLError, ValueError, ConfigError) as error:
        raise CliError(f"kubeconfig: cannot use it: {error!r}", ExitCode.CLUSTER) from None
    return client, namespace


def _make_client(target: Target) -> tuple[Any, str]:
    return _make_client_from(target, os.environ)


# Tests replace this with a function returning a fake client.
make_client: Callable[[Target], tuple[Any, str]] = _make_client


def connect(target: Target) -> Connection:
    """A client for `target`. Raises CliError(CLUSTER) when no kubeconfig can be read."""
    client, namespace = make_client(target)
    return Connection(client, namespace, target.all_namespaces)


def connect_with_env(target: Target, environ: Mapping[str, str]) -> Connection:
    """`connect`, reading `$KUBECONFIG` from `environ` instead of the process's."""
    client, namespace = _make_client_from(target, environ)
    return Connection(client, namespace, target.all_namespaces)
