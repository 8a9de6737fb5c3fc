"""The metadata store: SQLAlchemy tables, sessions and Alembic migrations."""

from modelyard.store.database import Database

__all__ = ["Database"]
