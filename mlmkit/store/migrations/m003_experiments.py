"""Schema for issue-5 (A/B tests, rollouts)."""

VERSION = 3

SQL = """
SELECT 1;
"""
