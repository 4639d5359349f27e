"""Data quality: the quarantine policy, the contracts' row rules (pandera), the raw assets'
three blocking checks, freshness policies and schema-change checks."""
