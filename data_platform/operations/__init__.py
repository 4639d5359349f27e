"""Platform health as data: the Dagster instance's runs, asset check evaluations and
freshness lags as tables of the warehouse schema ``operations`` (asset group
``operations``), beside the dbt mart of service levels per asset and week built on them
(``models/operations/``). ``operations_job`` builds the group hourly
(:mod:`data_platform.automation.operations`); no data job includes it."""
