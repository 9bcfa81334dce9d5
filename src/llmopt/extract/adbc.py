"""ADBC connections (Arrow Database Connectivity) to the request database: rows come back as Arrow columns,
read by the driver in C (SQLite ~5× `read_sql`; PostgreSQL by its binary COPY), for the columnar engine."""

from __future__ import annotations

from sqlalchemy.engine import URL


def adbc_connect(url: URL):
    """A DB-API connection of the ADBC driver for `url` (SQLite or PostgreSQL), read as the SQLAlchemy URL names.

    Raises:
        ImportError: the driver is not installed.
        ValueError: no ADBC driver is used for this database.
    """
    backend = url.get_backend_name()
    if backend == "sqlite":
        import adbc_driver_sqlite.dbapi as sqlite_dbapi

        return sqlite_dbapi.connect(url.database)
    if backend == "postgresql":
        import adbc_driver_postgresql.dbapi as postgresql_dbapi

        return postgresql_dbapi.connect(url.set(drivername="postgresql").render_as_string(hide_password=False))
    raise ValueError(f"no ADBC driver for {backend}")


def adbc_errors() -> tuple[type[BaseException], ...]:
    """What a failed ADBC read raises (the driver manager's errors, and OS errors from the driver)."""
    try:
        import adbc_driver_manager
        return (adbc_driver_manager.Error, OSError, ImportError, ValueError)
    except ImportError:
        return (OSError, ImportError, ValueError)
