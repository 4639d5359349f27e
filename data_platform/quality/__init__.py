"""Data quality: the quarantine policy, the contracts' row rules (column-wise, as their pandera
schemas define them), the raw assets' three blocking checks, freshness policies and
schema-change checks."""
