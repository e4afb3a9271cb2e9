"""The only module that sends requests to the API server.

Built on lightkube's async client with generic (dict-shaped) resources: no generated model
classes are loaded, which keeps the operator's memory small, and objects stay plain dicts
end to end. Every request is counted by verb and resource (Prometheus, and the benchmarks).
bench/README.md says why lightkube was chosen (measured against kubernetes and
kubernetes_asyncio).
"""

from __future__ import annotations

import itertools
import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from httpx2 import HTTPStatusError
from lightkube import ApiError, AsyncClient
from lightkube.generic_resource import (
    GenericNamespacedResource,
    create_global_resource,
    create_namespaced_resource,
)
from lightkube.types import CascadeType, PatchType

from kubedag import metrics
from kubedag.api import GROUP, VERSION

RESOURCES: dict[str, type[GenericNamespacedResource]] = {
    "Workflow": create_namespaced_resource(GROUP, VERSION, "Workflow", "workflows"),
    "Task": create_namespaced_resource(GROUP, VERSION, "Task", "tasks"),
    "Job": create_namespaced_resource("batch", "v1", "Job", "jobs"),
    "Event": create_namespaced_resource("", "v1", "Event", "events"),
    "TaskTemplate": create_namespaced_resource(GROUP, VERSION, "TaskTemplate", "tasktemplates"),
    # Backfills (issue 9): watched; a Backfill's source is read with `get`.
    "Backfill": create_namespaced_resource(GROUP, VERSION, "Backfill", "backfills"),
    "CronWorkflow": create_namespaced_resource(GROUP, VERSION, "CronWorkflow", "cronworkflows"),
    "WorkflowTemplate": create_namespaced_resource(
        GROUP, VERSION, "WorkflowTemplate", "workflowtemplates"
    ),
    # Issue 10: created and counted by kubedag.controller.datasets.
    "Dataset": create_namespaced_resource(GROUP, VERSION, "Dataset", "datasets"),
    # Read only, by kubedag.k8s.watch_cache; generic, so no Pod model is built per event.
    "Pod": create_namespaced_resource("", "v1", "Pod", "pods"),
    # The admission webhook's self-signed certificates (kubedag.admission.tls), one Secret.
    "Secret": create_namespaced_resource("", "v1", "Secret", "secrets"),
}
# Cluster-scoped: the admission webhook's configuration, whose caBundle the operator keeps.
WEBHOOK_CONFIGURATION = create_global_resource(
    "admissionregistration.k8s.io",
    "v1",
    "ValidatingWebhookConfiguration",
    "validatingwebhookconfigurations",
)

COMPONENT = "kubedag-operator"
_event_sequence = itertools.count()


def _as_dict(resource: Any) -> dict[str, Any]:
    # Generic resources are dicts underneath; lightkube's to_dict is untyped.
    converted: dict[str, Any] = resource.to_dict()
    return converted


class Rejected(Exception):
    """The API server refused an object as invalid (400, 422): sending it again cannot
    succeed. The message is the server's."""


class Conflict(Exception):
    """The object changed since the version a write was conditioned on (409)."""


class KubeApi:
    """Create, patch status, post events: what the operator writes."""

    def __init__(self, client: AsyncClient | None = None) -> None:
        self._client = client or AsyncClient(field_manager=COMPONENT)
        self.requests: Counter[tuple[str, str]] = Counter()

    async def close(self) -> None:
        await self._client.close()

    def count_request(self, verb: str, kind: str, started: float, outcome: str) -> None:
        """Counts a request made elsewhere on this client (kubedag.k8s.watch_cache)."""
        self._count(verb, kind, started, outcome)

    def _count(self, verb: str, kind: str, started: float, outcome: str) -> None:
        self.requests[(verb, kind)] += 1
        metrics.API_REQUESTS.labels(verb=verb, resource=kind, outcome=outcome).inc()
        metrics.API_LATENCY.labels(verb=verb, resource=kind).observe(time.perf_counter() - started)

    async def create(self, manifest: dict[str, Any]) -> dict[str, Any] | None:
        """Creates the object; returns it, or None when it already exists (a repeated
        action after a restart or a stale view, which is expected and harmless)."""
        kind = manifest["kind"]
        resource = RESOURCES[kind]
        started = time.perf_counter()
        try:
            created = await self._client.create(resource.from_dict(manifest))
        except ApiError as error:
            if error.status.code == 409:
                self._count("create", kind, started, "exists")
                return None
            self._count("create", kind, started, "error")
            if error.status.code in (400, 422):
                raise Rejected(error.status.message or str(error)) from error
            raise
        self._count("create", kind, started, "ok")
        return _as_dict(created)

    async def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        started = time.perf_counter()
        try:
            found = await self._client.get(RESOURCES[kind], name, namespace=namespace)
        except ApiError as error:
            if error.status.code == 404:
                self._count("get", kind, started, "gone")
                return None
            self._count("get", kind, started, "error")
            raise
        except HTTPStatusError as error:
            # A resource the API server does not serve (its CRD is not installed) answers
            # 404 with no Status body, which lightkube passes on as it is.
            if error.response.status_code == 404:
                self._count("get", kind, started, "gone")
                return None
            self._count("get", kind, started, "error")
            raise
        self._count("get", kind, started, "ok")
        return _as_dict(found)

    async def list(
        self, kind: str, namespace: str, *, fields: dict[str, str] | None = None
    ) -> list[dict[str, Any]]:
        """The objects of `kind` in `namespace`, filtered by the API server with the field
        selector `fields` ({"reason": "FailedCreate"}: reason=FailedCreate)."""
        started = time.perf_counter()
        try:
            found = [
                _as_dict(item)
                async for item in self._client.list(
                    RESOURCES[kind], namespace=namespace, fields=dict(fields or {}) or None
                )
            ]
        except ApiError:
            self._count("list", kind, started, "error")
            raise
        self._count("list", kind, started, "ok")
        return found

    async def delete(self, kind: str, namespace: str, name: str) -> None:
        """Deletes in the background (the garbage collector removes the children); an
        object already gone is fine."""
        started = time.perf_counter()
        try:
            await self._client.delete(
                RESOURCES[kind], name, namespace=namespace, cascade=CascadeType.BACKGROUND
            )
        except ApiError as error:
            if error.status.code == 404:
                self._count("delete", kind, started, "gone")
                return
            self._count("delete", kind, started, "error")
            raise
        self._count("delete", kind, started, "ok")

    async def jobs_run_since(self, namespace: str, since: datetime) -> set[str]:
        """The names of the Jobs of `namespace` for which the Job controller made a Pod at
        or after `since`, from its SuccessfulCreate Events (they outlive the Job: an hour by
        default). One list request."""
        started = time.perf_counter()
        try:
            events = [
                _as_dict(event)
                async for event in self._client.list(
                    RESOURCES["Event"],
                    namespace=namespace,
                    fields={"involvedObject.kind": "Job", "reason": "SuccessfulCreate"},
                )
            ]
        except ApiError:
            self._count("list", "Event", started, "error")
            raise
        self._count("list", "Event", started, "ok")
        names = set()
        for event in events:
            stamp = event.get("eventTime") or event.get("firstTimestamp")
            if stamp is None:
                continue
            when = datetime.fromisoformat(str(stamp).replace("Z", "+00:00"))
            if when >= since.replace(microsecond=0):
                names.add(str(event["involvedObject"]["name"]))
        return names

    async def serves(self, group_version: str, resources: set[str]) -> bool:
        """Whether API discovery lists all of `resources` under `group_version` (`v1`,
        `batch/v1`, `kubedag.io/v1alpha1`); False while the API server cannot say."""
        path = f"/api/{group_version}" if "/" not in group_version else f"/apis/{group_version}"
        try:
            # lightkube has no discovery call; its HTTP client knows the server and the
            # credentials, and resolves the path against the server's address.
            response = await self._client._client._client.get(path)
        except Exception:  # not reachable yet
            return False
        if response.status_code != 200:
            return False
        listed = {resource.get("name") for resource in response.json().get("resources", [])}
        return resources <= listed

    async def patch_status(
        self,
        kind: str,
        namespace: str,
        name: str,
        status: dict[str, Any],
        *,
        resource_version: str | None = None,
    ) -> str | None:
        """Merge-patches the /status subresource; returns the new resourceVersion, or None
        when the object is gone. With `resource_version`, only if the object is still at
        that version (optimistic concurrency: the API server answers 409, raised here as
        `Conflict`, when it changed)."""
        started = time.perf_counter()
        body: dict[str, Any] = {"status": status}
        if resource_version is not None:
            body["metadata"] = {"resourceVersion": resource_version}
        try:
            patched = await self._client.patch(
                RESOURCES[kind].Status,
                name,
                body,
                namespace=namespace,
                patch_type=PatchType.MERGE,
            )
        except ApiError as error:
            if error.status.code == 404:
                self._count("patch", kind, started, "gone")
                return None
            if error.status.code == 409:
                self._count("patch", kind, started, "conflict")
                raise Conflict(error.status.message or str(error)) from error
            self._count("patch", kind, started, "error")
            raise
        self._count("patch", kind, started, "ok")
        return str(_as_dict(patched)["metadata"]["resourceVersion"])

    async def merge_patch(
        self, kind: str, namespace: str, name: str, patch: dict[str, Any]
    ) -> bool:
        """Merge-patches the object (RFC 7386: e.g. `{"spec": {"shutdown": "Terminate"}}`);
        returns False when it is gone."""
        started = time.perf_counter()
        try:
            await self._client.patch(
                RESOURCES[kind], name, patch, namespace=namespace, patch_type=PatchType.MERGE
            )
        except ApiError as error:
            if error.status.code == 404:
                self._count("patch", kind, started, "gone")
                return False
            self._count("patch", kind, started, "error")
            if error.status.code in (400, 422):
                raise Rejected(error.status.message or str(error)) from error
            raise
        self._count("patch", kind, started, "ok")
        return True

    async def replace_secret_data(
        self, namespace: str, name: str, data: dict[str, str], *, resource_version: str
    ) -> None:
        """Replaces a Secret's `data` (base64 values) if it is still at `resource_version`;
        raises Conflict when it changed (another replica wrote it first)."""
        started = time.perf_counter()
        patch = {"metadata": {"resourceVersion": resource_version}, "data": data}
        try:
            await self._client.patch(
                RESOURCES["Secret"], name, patch, namespace=namespace, patch_type=PatchType.MERGE
            )
        except ApiError as error:
            self._count("patch", "Secret", started, "error")
            if error.status.code == 409:
                raise Conflict(error.status.message or str(error)) from error
            raise
        self._count("patch", "Secret", started, "ok")

    async def set_webhook_ca_bundle(self, name: str, ca_bundle: str) -> bool:
        """Sets `clientConfig.caBundle` (base64 PEM) on every webhook of the
        ValidatingWebhookConfiguration `name`, conditioned on the version read; False when
        there is no such configuration, Conflict when it changed meanwhile."""
        started = time.perf_counter()
        kind = "ValidatingWebhookConfiguration"
        try:
            found = _as_dict(await self._client.get(WEBHOOK_CONFIGURATION, name))
            webhooks = found.get("webhooks") or []
            bundles = [(hook.get("clientConfig") or {}).get("caBundle") for hook in webhooks]
            if all(bundle == ca_bundle for bundle in bundles):
                self._count("get", kind, started, "ok")
                return True
            for hook in webhooks:
                hook.setdefault("clientConfig", {})["caBundle"] = ca_bundle
            await self._client.replace(WEBHOOK_CONFIGURATION.from_dict(found))
        except ApiError as error:
            if error.status.code == 404:
                self._count("update", kind, started, "gone")
                return False
            self._count("update", kind, started, "error")
            if error.status.code == 409:
                raise Conflict(error.status.message or str(error)) from error
            raise
        self._count("update", kind, started, "ok")
        return True

    async def post_event(
        self,
        *,
        regarding: dict[str, Any],
        event_type: str,
        reason: str,
        message: str,
        name: str | None = None,
    ) -> None:
        """Posts a core/v1 Event about `regarding` (apiVersion, kind, name, namespace, uid).
        With `name`, an Event already posted under that name is left as it is (posting
        again after a crash does not double it). A failure is counted and raised; the
        caller decides whether to retry."""
        moment = datetime.now(UTC)
        now = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
        micro_now = moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        if name is None:
            name = f"{regarding['name']}.{time.time_ns():x}{next(_event_sequence):x}"
        manifest = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": name, "namespace": regarding["namespace"]},
            "involvedObject": regarding,
            "type": event_type,
            "reason": reason,
            # The API server refuses Event messages over 1 KiB of note.
            "message": message[:1024],
            "source": {"component": COMPONENT},
            "reportingComponent": COMPONENT,
            "reportingInstance": COMPONENT,
            "action": reason,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "eventTime": micro_now,
            "count": 1,
        }
        try:
            if await self.create(manifest) is not None:
                metrics.EVENTS_POSTED.labels(type=event_type, reason=reason).inc()
        except Rejected:
            return  # an Event the server refuses as invalid would be refused again
        except ApiError as error:
            if error.status.code == 403:
                # Not allowed (RBAC, quota): retrying cannot help, and holding the status
                # writes back for it would stop every workflow.
                return
            raise
