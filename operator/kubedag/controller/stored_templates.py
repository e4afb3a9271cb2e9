"""The I/O side of the templates a run keeps (issue 9; the rules are in
kubedag.engine.workflow_templates): what each pass plans from, and the one write that stores
the copies in the Workflow's status before anything is created.

The restart contract (never two Jobs for one attempt, never one run planned from two
versions of a template) holds because a run's first Task is created only after the API
server has acknowledged its copies; every later pass, in this process or the next, reads
them back from the Workflow's status.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from typing import Any

from kubedag.engine.workflow_templates import RunDefinition, StoredTemplates, define_run
from kubedag.k8s.client import KubeApi
from kubedag.k8s.observe import TemplateRecord, WorkflowRecord, WorkflowTemplateRecord

# What a definition depends on besides its Workflow's spec (see `RunDefinitions.version`).
Version = tuple[Any, ...]


class RunDefinitions:
    """Per workflow (any hashable key): its run definition, made again only when what it
    depends on changes, and the copies this process stored that the watch does not show
    yet."""

    def __init__(self, api: KubeApi) -> None:
        self.api = api
        self._definitions: dict[Hashable, tuple[Version, RunDefinition]] = {}
        # (the Workflow's uid, the copies written): a pass before the watch shows them must
        # not store them again from templates edited meanwhile.
        self._stored: dict[Hashable, tuple[str, StoredTemplates]] = {}

    def stored(self, key: Hashable, workflow: WorkflowRecord) -> StoredTemplates:
        """The copies the run keeps: its status's, or those this process stored."""
        status = workflow.status
        if status.stored_workflow_template is not None or status.stored_task_templates is not None:
            self._stored.pop(key, None)
            return StoredTemplates(status.stored_workflow_template, status.stored_task_templates)
        remembered = self._stored.get(key)
        if remembered is not None and remembered[0] == workflow.uid:
            return remembered[1]
        return StoredTemplates()

    def definition(
        self,
        key: Hashable,
        workflow: WorkflowRecord,
        *,
        task_templates: Iterable[TemplateRecord],
        workflow_templates: Iterable[WorkflowTemplateRecord],
    ) -> tuple[Version, RunDefinition]:
        """What this pass plans from (`define_run`), and the version of what it depends on
        (the shell's resolved-spec cache uses it too). A stored copy is read (validated)
        once, not on every pass of a 10,000-task run."""
        task_templates, workflow_templates = list(task_templates), list(workflow_templates)
        stored = self.stored(key, workflow)
        finished = bool(workflow.status.phase and workflow.status.phase.is_finished)
        # The live templates count only for the kinds the run keeps no copies of.
        live = sorted(
            [
                *(
                    ("TaskTemplate", record.name, record.resource_version)
                    for record in (task_templates if stored.task_templates is None else [])
                ),
                *(
                    ("WorkflowTemplate", record.name, record.resource_version)
                    for record in (workflow_templates if stored.workflow_template is None else [])
                ),
            ]
        )
        version: Version = (
            workflow.uid,
            workflow.generation,
            finished,
            stored.workflow_template is not None,
            stored.task_templates is not None,
            tuple(live),
        )
        cached = self._definitions.get(key)
        if cached is not None and cached[0] == version:
            return cached
        if workflow.spec is None:
            return version, RunDefinition(None, {})
        definition = define_run(
            workflow.spec,
            stored,
            workflow_templates=_specs(workflow_templates),
            task_templates=_specs(task_templates),
            finished=finished,
        )
        self._definitions[key] = (version, definition)
        return version, definition

    async def store(
        self,
        key: Hashable,
        workflow: WorkflowRecord,
        copies: StoredTemplates,
        *,
        known_version: str,
    ) -> bool:
        """Writes the copies into the Workflow's status and returns once the API server has
        acknowledged them (False: the Workflow is gone). Raises kubedag.k8s.client.Conflict
        when the Workflow is no longer at `known_version`.

        The write is conditioned on that version because a merge patch merges objects key
        by key: a second store over a first one whose answer was lost (with templates
        edited in between) would leave a mix of the two."""
        written = await self.api.patch_status(
            "Workflow",
            workflow.namespace,
            workflow.name,
            copies.status_patch(),
            resource_version=known_version,
        )
        if written is None:
            return False
        self._stored[key] = (workflow.uid, copies)
        return True

    def forget(self, key: Hashable) -> None:
        self._definitions.pop(key, None)
        self._stored.pop(key, None)


def _specs(records: Iterable[TemplateRecord | WorkflowTemplateRecord]) -> Mapping[str, Any]:
    return {record.name: record.spec for record in records if record.spec is not None}
