"""Schema for issue-4 (monitoring, alerting, retention summaries)."""

VERSION = 2

SQL = """
SELECT 1;
"""
