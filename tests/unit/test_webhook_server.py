"""The webhook over real HTTPS on localhost: the operator's own certificate made once and
shared by replicas through the Secret, the caBundle set, cert-manager's files reloaded when
they change, and an AdmissionReview answered."""

from __future__ import annotations

import asyncio
import base64
import os
import ssl
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from cryptography import x509

from kubedag.admission.certificates import WebhookCertificates, renewed
from kubedag.admission.server import WebhookServer
from kubedag.admission.settings import AdmissionSettings, SelfSigned
from kubedag.admission.tls import CertificateKeeper
from kubedag.k8s.client import Conflict
from kubedag.validation import Templates
from tests.e2e.operator_process import free_port


class FakeApi:
    """The API server's Secret and webhook configuration, for the certificate keeper."""

    def __init__(self) -> None:
        self.secret: dict[str, Any] | None = None
        self.version = 0
        self.writes = 0
        self.ca_bundle: str | None = None

    async def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        assert (kind, namespace, name) == ("Secret", "kd", "tls")
        return self.secret

    async def create(self, manifest: dict[str, Any]) -> dict[str, Any] | None:
        if self.secret is not None:
            return None
        self._store(manifest["data"])
        return self.secret

    async def replace_secret_data(
        self, namespace: str, name: str, data: dict[str, str], *, resource_version: str
    ) -> None:
        if resource_version != str(self.version):
            raise Conflict("changed")
        self._store(data)

    async def set_webhook_ca_bundle(self, name: str, ca_bundle: str) -> bool:
        self.ca_bundle = ca_bundle
        return True

    def _store(self, data: dict[str, str]) -> None:
        self.version += 1
        self.writes += 1
        self.secret = {"metadata": {"resourceVersion": str(self.version)}, "data": data}

    def certificates(self) -> WebhookCertificates:
        assert self.secret is not None
        data = {k: base64.b64decode(v).decode() for k, v in self.secret["data"].items()}
        found = WebhookCertificates.from_secret_data(data)
        assert found is not None
        return found


def self_signed(tmp_path: Path, port: int = 0) -> AdmissionSettings:
    return AdmissionSettings(
        port=port or None,
        self_signed=SelfSigned("kd", "tls", ("127.0.0.1",), "kubedag", tmp_path),
    )


def keeper(settings: AdmissionSettings, api: FakeApi) -> CertificateKeeper:
    return CertificateKeeper(settings, api)  # type: ignore[arg-type]


async def served_serial(port: int, authorities: str) -> int:
    """The serial number of the certificate the server presents, verified."""
    context = ssl.create_default_context(cadata=authorities)
    _, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context)
    der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
    writer.close()
    return x509.load_der_x509_certificate(der).serial_number


def test_replicas_share_one_certificate_and_the_ca_bundle_is_set(tmp_path: Path) -> None:
    api = FakeApi()

    async def scenario() -> None:
        await keeper(self_signed(tmp_path), api).load()
        await keeper(self_signed(tmp_path), api).load()  # the second replica

    asyncio.run(scenario())
    assert api.writes == 1
    made = api.certificates()
    assert api.ca_bundle == base64.b64encode(made.authorities.encode()).decode()


def test_a_replica_that_loses_the_race_serves_the_winners_certificate(tmp_path: Path) -> None:
    winner = renewed(None, ["127.0.0.1"], datetime.now(UTC))
    assert winner is not None

    class LateApi(FakeApi):
        async def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
            found = self.secret
            if found is None:  # the other replica creates it right after this read
                self._store(
                    {
                        k: base64.b64encode(v.encode()).decode()
                        for k, v in winner.secret_data().items()
                    }
                )
            return found

    late = LateApi()
    asyncio.run(keeper(self_signed(tmp_path), late).load())
    assert late.writes == 1
    assert late.certificates() == winner


def test_the_server_answers_an_admission_review_over_tls(tmp_path: Path) -> None:
    api = FakeApi()
    port = free_port()
    server = WebhookServer(
        self_signed(tmp_path, port),
        api,  # type: ignore[arg-type]
        templates_in=lambda _: Templates(),
    )
    review = {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "abc",
            "kind": {"group": "kubedag.io", "version": "v1alpha1", "kind": "Workflow"},
            "namespace": "team",
            "operation": "CREATE",
            "object": {
                "metadata": {"name": "w"},
                "spec": {
                    "tasks": [
                        {"name": "a", "image": "x", "dependsOn": ["b"]},
                        {"name": "b", "image": "x", "dependsOn": ["a"]},
                    ]
                },
            },
        },
    }

    async def scenario() -> dict[str, Any]:
        await server.start()
        try:
            context = ssl.create_default_context(cadata=api.certificates().authorities)
            async with aiohttp.ClientSession() as session:
                url = f"https://127.0.0.1:{port}/validate"
                async with session.post(url, json=review, ssl=context) as response:
                    assert response.status == 200
                    answer: dict[str, Any] = await response.json()
                    return answer
        finally:
            await server.stop()

    answer = asyncio.run(scenario())["response"]
    assert answer["uid"] == "abc"
    assert answer["allowed"] is False
    assert answer["status"]["message"] == "invalid spec: spec.tasks: dependency cycle: a -> b -> a"


def test_mounted_certificate_files_are_served_again_once_they_change(tmp_path: Path) -> None:
    port = free_port()
    first = renewed(None, ["127.0.0.1"], datetime.now(UTC))
    assert first is not None
    second = renewed(
        WebhookCertificates(first.authorities, first.authority_key, "", ""),
        ["127.0.0.1"],
        datetime.now(UTC),
    )
    assert second is not None and second.authorities == first.authorities

    def mount(certificates: WebhookCertificates, generation: int) -> None:
        for name, text in (("tls.crt", certificates.certificate), ("tls.key", certificates.key)):
            path = tmp_path / name
            path.write_text(text)
            # cert-manager's update is seen by the files' modification times.
            timestamp = 1_700_000_000 + generation
            os.utime(path, (timestamp, timestamp))

    mount(first, 1)
    server = WebhookServer(
        AdmissionSettings(port=port, cert_dir=tmp_path),
        FakeApi(),  # type: ignore[arg-type]  # not called in this mode
        templates_in=lambda _: Templates(),
    )

    async def scenario() -> tuple[int, int]:
        await server.start()
        try:
            before = await served_serial(port, first.authorities)
            mount(second, 2)
            await server.certificates.load()
            return before, await served_serial(port, first.authorities)
        finally:
            await server.stop()

    serial = x509.load_pem_x509_certificate(first.certificate.encode()).serial_number
    renewed_serial = x509.load_pem_x509_certificate(second.certificate.encode()).serial_number
    assert asyncio.run(scenario()) == (serial, renewed_serial)
