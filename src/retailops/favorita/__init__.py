"""The Favorita study: the Kaggle "favorita-grocery-sales-forecasting" download, end to end.

Owns everything about those seven CSV files and nothing else in the platform:

- ``tables``       the files' real schemas, keys and expected date ranges
- ``duck``         one way to open DuckDB with a memory limit and spill folder
- ``availability`` which files are present, their rows and date ranges
- ``staging``      streaming CSV -> typed Parquet through DuckDB (train.csv never enters pandas)
- ``profiling``    pg_stats-style column statistics
- ``cleaning``     per-table cleaning rules
- ``features``     calendar features: payday, earthquake period, holiday flags
- ``quality``      key, not-null, foreign-key, range and date-range checks
- ``mart``         the daily sales mart (date x store x family)
- ``report``       the self-contained HTML report
- ``synthetic``    Favorita-shaped files for tests and the benchmark

Pure functions over paths and DataFrames; the Kedro wiring lives in ``retailops.pipelines.favorita``.
"""
