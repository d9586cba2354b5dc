"""Schema for issue-8 (job runs, metric snapshots)."""

VERSION = 5

SQL = """
SELECT 1;
"""
