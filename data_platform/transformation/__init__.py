"""Transformation: the dbt project (staging and marts) as Dagster assets."""
