"""Raw ingests: sources copied into the lake's raw zone and the warehouse schema ``raw``."""
