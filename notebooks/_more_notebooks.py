"""Cells of the widget notebooks (02 A/B review, 04 threshold tuning)."""

from __future__ import annotations

NOTEBOOKS: dict = {}
