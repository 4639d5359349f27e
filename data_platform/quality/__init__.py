"""Data quality: the pandera contracts of the raw data, run as Dagster asset checks."""
