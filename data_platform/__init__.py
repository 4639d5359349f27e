"""data_platform: the Jaffle Shop data platform on Dagster, dbt and DuckDB.

The package is laid out by concern:

- ``settings``: the state folder and the environment variables that pick backends.
- ``resources``: the lake, the warehouse and the shop database (the outside world).
- ``ingestion``: raw assets that copy sources into the lake's raw zone and the warehouse.
- ``transformation``: the dbt project as Dagster assets.
- ``quality``: pandera contracts for the raw data, run as asset checks.
- ``automation``: jobs, schedules and sensors.
- ``seed`` and ``cli``: the demo sources and the ``data-platform`` command.
"""
