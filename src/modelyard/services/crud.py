"""Shared create / get / list / delete for the simple named resources (models, configs)."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from modelyard.errors import Conflict, InvalidRequest, NotFound
from modelyard.services.pagination import decode_token, encode_token
from modelyard.store import Database

Row = TypeVar("Row")


def insert(db: Database, row: Any, kind: str) -> None:
    try:
        with db.session() as session:
            session.add(row)
    except IntegrityError:
        raise Conflict(
            f"a {kind} named {row.name!r} already exists; choose another name", {"name": row.name}
        ) from None


def get(session: Session, table: type[Row], name: str, kind: str) -> Row:
    row = session.scalar(select(table).where(table.name == name))  # type: ignore[attr-defined]
    if row is None:
        raise NotFound(f"{kind} {name!r} does not exist", {"name": name})
    return row


def page(
    session: Session,
    table: type[Row],
    name_contains: str | None,
    max_results: int,
    next_token: str | None,
    **filters: Any,
) -> tuple[list[Row], str | None]:
    if not 1 <= max_results <= 1000:
        raise InvalidRequest("max_results must be between 1 and 1000", {"field": "max_results"})
    column_id = table.id  # type: ignore[attr-defined]
    query = select(table).order_by(column_id.desc()).limit(max_results + 1)
    if name_contains:
        query = query.where(table.name.contains(name_contains, autoescape=True))  # type: ignore[attr-defined]
    for column, value in filters.items():
        if value is not None:
            query = query.where(getattr(table, column) == value)
    if next_token:
        query = query.where(column_id < decode_token(next_token))
    rows = list(session.scalars(query))
    more = len(rows) > max_results
    rows = rows[:max_results]
    return rows, (encode_token(rows[-1].id) if more else None)  # type: ignore[attr-defined]
