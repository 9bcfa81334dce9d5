"""ADBC connections (Arrow Database Connectivity) to the request database: rows come back as Arrow columns,
read by the driver in C (SQLite ~5× `read_sql`; PostgreSQL by its binary COPY), for the columnar engine."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from sqlalchemy.engine import URL

# a window is read as this many consecutive time ranges at once, each on its own connection: the driver reads
# in C without the GIL, so on 2 cores a 1M-row SQLite hour reads in about 60% of the time (one partition's
# rows in memory, as before)
READ_PARTS = 2
# rows per Arrow batch from the SQLite driver (its default is 1,024): a 500k-row slice came in 488 batches, which
# the engine walks one by one to take its sample (0.09-0.13 s against 0.04-0.05 s in 61 batches) and which held
# ~15 MB more of the process's memory
SQLITE_BATCH_ROWS = 8192


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


def read_arrow(url: URL, queries: list[str]):
    """The rows of `queries` (consecutive ranges of one window), read at once, as one Arrow table in their order.

    Raises:
        pyarrow.ArrowInvalid, pyarrow.ArrowTypeError: the ranges' columns came back in types that do not unify
            (SQLite types a column by its values); and what `adbc_errors` lists.
    """
    import pyarrow as pa

    from llmopt.extract.frame_types import untyped_nulls

    def read(sql: str):
        with adbc_connect(url) as conn, conn.cursor() as cursor:
            if url.get_backend_name() == "sqlite":
                cursor.adbc_statement.set_options(**{"adbc.sqlite.query.batch_rows": str(SQLITE_BATCH_ROWS)})
            cursor.execute(sql)
            return cursor.fetch_arrow_table()

    with ThreadPoolExecutor(len(queries)) as pool:
        tables = list(pool.map(read, queries))
    rows = [t for t in tables if t.num_rows] or tables[:1]       # an empty range's columns carry no types
    if len(rows) == 1:
        return rows[0]
    # a column null in every row of one range takes the other's type
    return pa.concat_tables([untyped_nulls(t) for t in rows], promote_options="permissive")
