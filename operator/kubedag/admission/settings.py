"""The admission webhook's and the ServiceAccount policy's settings, from the operator's
environment (the chart sets them; see charts/kubedag/templates/deployment.yaml):

- KUBEDAG_WEBHOOK_PORT: serve the webhook (HTTPS) on this port; unset, no webhook.
- KUBEDAG_WEBHOOK_CERT_DIR: a directory with `tls.crt` and `tls.key` made by someone else
  (cert-manager's Secret, mounted); read again when they change.
- otherwise the operator's own certificates: KUBEDAG_WEBHOOK_SECRET (`namespace/name` of the
  Secret it keeps them in, shared by the replicas), KUBEDAG_WEBHOOK_HOSTS (comma-separated
  DNS names and IP addresses the serving certificate is for: the Service's names),
  KUBEDAG_WEBHOOK_CONFIGURATION (the ValidatingWebhookConfiguration whose caBundle it
  keeps) and KUBEDAG_WEBHOOK_KEY_DIR (a writable directory for the key files Python's ssl
  loads; default the system's temporary directory).
- KUBEDAG_SERVICE_ACCOUNT_POLICY: a YAML file of kubedag.engine.service_accounts'
  policy; unset, any account (the behaviour before issue 12).

Raises SettingsError with the variable's name for a value that cannot work."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from kubedag.engine.service_accounts import UNRESTRICTED, ServiceAccountPolicy, load_policy


class SettingsError(ValueError):
    pass


@dataclass(frozen=True)
class SelfSigned:
    secret_namespace: str
    secret_name: str
    hosts: tuple[str, ...]
    webhook_configuration: str | None
    key_dir: Path


@dataclass(frozen=True)
class AdmissionSettings:
    port: int | None = None
    cert_dir: Path | None = None
    self_signed: SelfSigned | None = None
    service_accounts: ServiceAccountPolicy = UNRESTRICTED

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> AdmissionSettings:
        env = os.environ if environ is None else environ
        policy = UNRESTRICTED
        if path := env.get("KUBEDAG_SERVICE_ACCOUNT_POLICY"):
            try:
                policy = load_policy(Path(path))
            except (OSError, ValueError) as error:
                raise SettingsError(f"KUBEDAG_SERVICE_ACCOUNT_POLICY: {error}") from error
        port_text = env.get("KUBEDAG_WEBHOOK_PORT")
        if not port_text:
            return cls(service_accounts=policy)
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise SettingsError(f"KUBEDAG_WEBHOOK_PORT: {port_text!r} is not a port number")
        port = int(port_text)
        if cert_dir := env.get("KUBEDAG_WEBHOOK_CERT_DIR"):
            return cls(port, cert_dir=Path(cert_dir), service_accounts=policy)
        secret = env.get("KUBEDAG_WEBHOOK_SECRET", "")
        namespace, _, name = secret.partition("/")
        hosts = tuple(host.strip() for host in env.get("KUBEDAG_WEBHOOK_HOSTS", "").split(","))
        hosts = tuple(host for host in hosts if host)
        if not (namespace and name):
            raise SettingsError(
                "KUBEDAG_WEBHOOK_SECRET: give NAMESPACE/NAME of the Secret for the webhook's "
                "certificates (or KUBEDAG_WEBHOOK_CERT_DIR)"
            )
        if not hosts:
            raise SettingsError("KUBEDAG_WEBHOOK_HOSTS: the names the certificate is for")
        key_dir = Path(env.get("KUBEDAG_WEBHOOK_KEY_DIR") or tempfile.gettempdir())
        self_signed = SelfSigned(
            namespace, name, hosts, env.get("KUBEDAG_WEBHOOK_CONFIGURATION") or None, key_dir
        )
        return cls(port, self_signed=self_signed, service_accounts=policy)
