"""Automation: jobs, the daily schedule and the landing-zone sensor."""
