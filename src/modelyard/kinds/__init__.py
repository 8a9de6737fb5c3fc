"""Kinds of job, each declared once in a module of this package.

A declaration (`JobKind`) names the kind, its REST collection, its request / description /
summary schemas, its statuses, the server-side logic that validates a request and describes a
job (`service`, imported only by the server), the runtime module that runs the job's process
(`runtime`; None for a kind the control plane drives itself, such as tuning), and what the
CLI shows. The REST routes, the service wiring, the job controller's launch, the runtime's
dispatch, the SDK's describe / wait / logs and the CLI's list / describe / logs / stop are all
derived from these declarations. A new kind is a new module here: it is found by its name.

This package is pure data and schemas, so the SDK and the CLI import it as cheaply as the
server does.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from functools import cache

from pydantic import BaseModel

from modelyard.errors import NotFound

JOB_STATUSES = ("InProgress", "Completed", "Failed", "Stopping", "Stopped")
TERMINAL_STATUSES = ("Completed", "Failed", "Stopped")


@dataclass(frozen=True)
class Column:
    """One column of `modelyard <kind> list`: a header and the summary field it shows."""

    header: str
    field: str
    width: int | None = None  # characters kept of the value (timestamps: 19)


@dataclass(frozen=True)
class JobKind:
    name: str  # stored in the jobs table's kind column
    noun: str  # "training job": how messages name one
    collection: str  # REST: /api/v1/<collection>
    cli: str  # the CLI group: `modelyard <cli> list|describe|logs|stop`
    help: str
    create: type[BaseModel]
    description: type[BaseModel]
    summary: type[BaseModel]
    # "module:attribute" of the server-side logic (a `services.jobs.KindLogic`).
    service: str
    # Module with `run_job(layout, spec, reporter, log) -> dict`; None when no process runs.
    runtime: str | None
    statuses: tuple[str, ...] = JOB_STATUSES
    columns: tuple[Column, ...] = (
        Column("name", "name"),
        Column("status", "status"),
        Column("created", "created_at", 19),
    )
    # Forked from the warm launcher (libraries loaded) rather than started cold.
    warm: bool = True
    has_metrics: bool = False  # GET <collection>/{name}/metrics
    # GET <collection>/{name}/<children>: the jobs it started (a tuning job's trials).
    children: str | None = None
    child_summary: type[BaseModel] | None = None  # how each of them is listed there
    # PATCH <collection>/{name}: what may change while it runs (a tuning job's limits).
    update: type[BaseModel] | None = None
    order: int = 100  # where the kind comes in listings and the CLI's help

    @property
    def nouns(self) -> str:
        return self.noun + "s"


@cache
def job_kinds() -> dict[str, JobKind]:
    """Every declared kind, by name, in the order their modules sort."""
    kinds: dict[str, JobKind] = {}
    for module in sorted(m.name for m in pkgutil.iter_modules(__path__)):
        declared = getattr(importlib.import_module(f"{__name__}.{module}"), "KIND", None)
        if isinstance(declared, JobKind):
            kinds[declared.name] = declared
    return dict(sorted(kinds.items(), key=lambda item: item[1].order))


def job_kind(name: str) -> JobKind:
    try:
        return job_kinds()[name]
    except KeyError:
        raise NotFound(
            f"unknown kind of job {name!r}; known: {', '.join(job_kinds())}", {"kind": name}
        ) from None


def kind_by_collection(collection: str) -> JobKind:
    for kind in job_kinds().values():
        if kind.collection == collection:
            return kind
    raise NotFound(f"no kind of job is served at {collection!r}", {"collection": collection})
