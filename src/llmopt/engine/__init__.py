"""The columnar engine: a partition's contract checks and rollup computed in DuckDB over its Arrow table.

Sources that can hand over Arrow (`read_table`: Parquet/CSV lakes, SQLite and PostgreSQL through ADBC) are
validated and reduced here; the pandas path (`validate.contract`, `rollup.partition.reduce_partition`) stays the
reference and takes the partitions the engine declines (a batch-level oddity it leaves to the pandas path to
name, late feedback to join, a source without Arrow). `settings.engine: pandas` forces it.
"""
