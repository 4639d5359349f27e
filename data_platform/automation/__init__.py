"""Automation across sources: the platform's jobs, the daily schedule and run retention (a
source's own sensors and jobs live in its folder)."""
