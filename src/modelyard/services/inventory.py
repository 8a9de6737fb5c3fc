"""Counts of what the platform holds, for gauges: instances and jobs by status."""

from __future__ import annotations

from sqlalchemy import func, select

from modelyard.store import Database
from modelyard.store.models import Endpoint, EndpointInstance, Job


def instance_counts(db: Database) -> list[tuple[str, str, str, int]]:
    """(endpoint, variant, status, instances)."""
    with db.session() as session:
        rows = session.execute(
            select(
                Endpoint.name, EndpointInstance.variant_name, EndpointInstance.status, func.count()
            )
            .join(EndpointInstance.endpoint)
            .group_by(Endpoint.name, EndpointInstance.variant_name, EndpointInstance.status)
        )
        return [(e, v, s, int(n)) for e, v, s, n in rows]


def job_counts(db: Database) -> list[tuple[str, str, str, int]]:
    """(kind, status, secondary status, jobs)."""
    with db.session() as session:
        rows = session.execute(
            select(Job.kind, Job.status, Job.secondary_status, func.count()).group_by(
                Job.kind, Job.status, Job.secondary_status
            )
        )
        return [(k, s, ss, int(n)) for k, s, ss, n in rows]
