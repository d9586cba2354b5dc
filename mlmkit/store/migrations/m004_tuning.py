"""Schema for issue-6 (tuning runs)."""

VERSION = 4

SQL = """
SELECT 1;
"""
