"""Persistence: SQLAlchemy 2 engine, sessions, unit of work and Alembic migrations."""
