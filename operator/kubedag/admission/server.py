"""The HTTPS endpoint the API server calls: POST /validate with an AdmissionReview.

Served with aiohttp, the HTTP library Kopf itself runs on, in the operator's event loop,
next to the watch caches whose templates it checks references against. Kopf's own
admission server (`kopf.on.validate`) is not used: it routes reviews to handlers of
resources Kopf serves, and this operator has Kopf serve none (kubedag.handlers), and its
self-signed certificates need extra packages (certbuilder, oscrypto) and stay per process,
where two replicas need one certificate the API server trusts.

A review that cannot be decided (a bug, an unexpected body) is allowed with a warning and
logged: the operator's own checks still apply to what it stores (see failurePolicy in the
chart). The object itself is never logged: a spec may hold literal values a user would not
want in a log."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from aiohttp import web

from kubedag.admission.review import Decision, decide, review_response
from kubedag.admission.settings import AdmissionSettings
from kubedag.admission.tls import CertificateKeeper
from kubedag.api.pod import PodFields
from kubedag.k8s.client import KubeApi
from kubedag.validation import Templates

logger = logging.getLogger(__name__)
PATH = "/validate"
# AdmissionReviews carry the whole object; a Workflow is at most the API server's 3 MiB
# request limit, with room for the old object of an UPDATE.
MAX_REQUEST_BYTES = 8 * 1024 * 1024


class WebhookServer:
    def __init__(
        self,
        settings: AdmissionSettings,
        api: KubeApi,
        *,
        templates_in: Callable[[str], Templates],
        pod_defaults: PodFields | None = None,
    ) -> None:
        assert settings.port is not None
        self.settings = settings
        self.templates_in = templates_in
        self.pod_defaults = pod_defaults  # the operator's task Pod defaults
        self.certificates = CertificateKeeper(settings, api)
        self._runner: web.AppRunner | None = None
        self._renewing: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Loads a certificate (making one if it must), then listens on every address."""
        await self.certificates.load()
        app = web.Application(client_max_size=MAX_REQUEST_BYTES)
        app.router.add_post(PATH, self._validate)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(
            self._runner, port=self.settings.port, ssl_context=self.certificates.context
        )
        await site.start()
        self._renewing = asyncio.create_task(self.certificates.run())
        logger.info("admission webhook serving https://0.0.0.0:%d%s", self.settings.port, PATH)

    async def stop(self) -> None:
        if self._renewing is not None:
            self._renewing.cancel()
            await asyncio.gather(self._renewing, return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()

    async def _validate(self, request: web.Request) -> web.Response:
        try:
            review: dict[str, Any] = await request.json()
        except ValueError:
            return web.json_response({"error": "not an AdmissionReview"}, status=400)
        admission = review.get("request") if isinstance(review, dict) else None
        if not isinstance(admission, dict):
            return web.json_response({"error": "not an AdmissionReview"}, status=400)
        try:
            decision = decide(
                admission,
                templates_in=self.templates_in,
                service_accounts=self.settings.service_accounts,
                pod_defaults=self.pod_defaults,
            )
        except Exception as error:
            logger.exception("admission review %s could not be decided", admission.get("uid"))
            decision = Decision(True, warnings=[f"kubedag did not check this object: {error}"])
        if not decision.allowed:
            logger.info(
                "admission: refused %s %s/%s",
                (admission.get("kind") or {}).get("kind"),
                admission.get("namespace"),
                admission.get("name"),
            )
        return web.json_response(review_response(review, decision))
