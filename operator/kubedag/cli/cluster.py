"""Which cluster and namespace a verb talks to, as kubectl chooses them.

`--kubeconfig` (else `$KUBECONFIG`, else `~/.kube/config`; in a Pod, its service account),
`--context` (else the kubeconfig's current context), `-n` (else the context's namespace,
else `default`), `-A` for every namespace. lightkube is imported only when a verb needs
the cluster, so `kubedag version` and `kubedag lint` never pay for it.
"""

from __future__ import annotations

from collections.abc import Callable
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


def _make_client(target: Target) -> tuple[Any, str]:
    from lightkube import Client, KubeConfig
    from lightkube.core.exceptions import ConfigError

    try:
        if target.kubeconfig:
            config = KubeConfig.from_file(target.kubeconfig)
        else:
            config = KubeConfig.from_env()
        single = config.get(context_name=target.context)
    except ConfigError as error:
        raise CliError(f"kubeconfig: {error}", ExitCode.CLUSTER) from None
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
    return Client(config=single, namespace=namespace, field_manager="kubedag-cli"), namespace


# Tests replace this with a function returning a fake client.
make_client: Callable[[Target], tuple[Any, str]] = _make_client


def connect(target: Target) -> Connection:
    """A client for `target`. Raises CliError(CLUSTER) when no kubeconfig can be read."""
    client, namespace = make_client(target)
    return Connection(client, namespace, target.all_namespaces)
