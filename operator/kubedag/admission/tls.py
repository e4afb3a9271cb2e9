"""Keeps the webhook's TLS certificate current in a running operator: the one cert-manager
writes (mounted files, read again when they change), or the operator's own self-signed one
(kubedag.admission.certificates), kept in a Secret the replicas share and whose authority
goes into the ValidatingWebhookConfiguration's caBundle.

The self-signed order of writes makes a rotation safe: the Secret first (conditioned on its
version: of two replicas renewing at once, one wins and the other reads its result), then
the caBundle, then the new certificate is served. Python's ssl loads certificates from files
only: they are written, owner-only, to a directory of their own."""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from kubedag.admission.certificates import WebhookCertificates, renewed
from kubedag.admission.settings import AdmissionSettings, SelfSigned
from kubedag.k8s.client import Conflict, KubeApi

logger = logging.getLogger(__name__)
CHECK_INTERVAL_SECONDS = 3600.0  # self-signed: renewal is due months ahead
RELOAD_INTERVAL_SECONDS = 60.0  # mounted files: cert-manager renews them in place


@dataclass
class _Loaded:
    marker: object = None  # what was last loaded (file times, or the certificate text)


class CertificateKeeper:
    """The server's SSL context, kept loaded with the current certificate."""

    def __init__(self, settings: AdmissionSettings, api: KubeApi) -> None:
        self.settings = settings
        self.api = api
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.minimum_version = ssl.TLSVersion.TLSv1_2
        self._loaded = _Loaded()

    async def load(self) -> None:
        """Loads a certificate now (making one if it must); raises if it cannot."""
        if self.settings.cert_dir is not None:
            self._load_files(self.settings.cert_dir)
        else:
            assert self.settings.self_signed is not None
            await self._keep_self_signed(self.settings.self_signed)

    async def run(self) -> None:
        """Reloads or renews for ever; a failed round is logged and tried again."""
        interval = CHECK_INTERVAL_SECONDS
        if self.settings.cert_dir is not None:
            interval = RELOAD_INTERVAL_SECONDS
        while True:
            await asyncio.sleep(interval)
            try:
                await self.load()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.warning("webhook certificate: could not renew or reload", exc_info=True)

    def _load_files(self, directory: Path) -> None:
        certificate, key = directory / "tls.crt", directory / "tls.key"
        marker = (certificate.stat().st_mtime_ns, key.stat().st_mtime_ns)
        if marker != self._loaded.marker:
            self.context.load_cert_chain(certificate, key)
            self._loaded.marker = marker
            logger.info("webhook certificate loaded from %s", directory)

    async def _keep_self_signed(self, settings: SelfSigned) -> None:
        current, version = await self._read_secret(settings)
        fresh = renewed(current, settings.hosts, datetime.now(UTC))
        if fresh is not None:
            try:
                await self._write_secret(settings, fresh, version)
                current = fresh
                logger.info(
                    "webhook certificate made and stored in Secret %s/%s",
                    settings.secret_namespace,
                    settings.secret_name,
                )
            except Conflict:
                # Another replica renewed first: serve its certificate.
                current, _ = await self._read_secret(settings)
        if current is None:
            raise RuntimeError("the webhook's Secret holds no certificate")
        if settings.webhook_configuration is not None:
            bundle = base64.b64encode(current.authorities.encode()).decode()
            if not await self.api.set_webhook_ca_bundle(settings.webhook_configuration, bundle):
                logger.warning(
                    "ValidatingWebhookConfiguration %s not found: its caBundle is not kept",
                    settings.webhook_configuration,
                )
        if current.certificate != self._loaded.marker:
            self._load_text(settings.key_dir, current)
            self._loaded.marker = current.certificate

    def _load_text(self, directory: Path, certificates: WebhookCertificates) -> None:
        own = directory / f"kubedag-webhook-{os.getpid()}"
        own.mkdir(mode=0o700, parents=True, exist_ok=True)
        certificate, key = own / "tls.crt", own / "tls.key"
        for path, text in ((certificate, certificates.certificate), (key, certificates.key)):
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(descriptor, "w") as file:
                file.write(text)
        self.context.load_cert_chain(certificate, key)

    async def _read_secret(
        self, settings: SelfSigned
    ) -> tuple[WebhookCertificates | None, str | None]:
        found = await self.api.get("Secret", settings.secret_namespace, settings.secret_name)
        if found is None:
            return None, None
        data = {
            key: base64.b64decode(value).decode()
            for key, value in (found.get("data") or {}).items()
        }
        version = str(found["metadata"].get("resourceVersion", ""))
        return WebhookCertificates.from_secret_data(data), version

    async def _write_secret(
        self, settings: SelfSigned, certificates: WebhookCertificates, version: str | None
    ) -> None:
        data = {
            key: base64.b64encode(value.encode()).decode()
            for key, value in certificates.secret_data().items()
        }
        if version is not None:
            await self.api.replace_secret_data(
                settings.secret_namespace, settings.secret_name, data, resource_version=version
            )
            return
        created = await self.api.create(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {
                    "name": settings.secret_name,
                    "namespace": settings.secret_namespace,
                    "labels": {"app.kubernetes.io/component": "admission-webhook"},
                },
                "type": "Opaque",
                "data": data,
            }
        )
        if created is None:
            raise Conflict("created by another replica meanwhile")
