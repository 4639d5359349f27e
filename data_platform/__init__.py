"""data_platform: the Jaffle Shop data platform on Dagster, dbt and DuckDB.

One folder per source over a layered core (each layer imports only those below it):

- ``core``: settings, lake layout, partitions, the dataset contract and source types;
- ``resources`` (the outside world: lake, warehouse, shop database, dbt) and ``quality``
  (the quarantine policy, row rules, raw checks, freshness, schema changes);
- ``loading``: file readers, batches, the loader, the raw-asset decorator;
- ``sources/<source>``: each source's datasets, assets, jobs, sensors and demo seed;
  ``transformation``: the dbt project as assets;
- ``automation``: the platform's jobs and schedules; ``definitions``: the code location;
- ``headless``, ``seed`` and ``cli``: the headless run, the demo seed, the command.
"""
