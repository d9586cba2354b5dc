"""How many segments one ``segment=`` call may answer: a grouped result is checked first.

Per-segment answers cost Python work per segment (a metrics row, tests, intervals): a column
with a value per user turned ``segment_metrics`` into 77 s and ``segment_drift`` into more
than 8 minutes at 100,000 segments, with no word of why. Every segment statement's compact
result (one row per segment, or per segment and class) is counted before that work; beyond
the limit the call is refused with a `ValidationError` naming ``segment`` and what to do.
The limit is ``MLMKIT_MAX_SEGMENTS`` from the environment (default `DEFAULT_MAX_SEGMENTS`).
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from mlmkit._validation import env_limit, invalid

__all__ = ["DEFAULT_MAX_SEGMENTS", "ENV", "check_segments", "max_segments"]

#: Segments one call answers unless ``MLMKIT_MAX_SEGMENTS`` says otherwise.
DEFAULT_MAX_SEGMENTS = 2_000
ENV = "MLMKIT_MAX_SEGMENTS"


def max_segments() -> int:
    """The limit: ``MLMKIT_MAX_SEGMENTS`` (a positive integer) or `DEFAULT_MAX_SEGMENTS`."""
    return env_limit(ENV, DEFAULT_MAX_SEGMENTS, "segments one call may answer")


def check_segments(frame: pl.DataFrame, keys: Sequence[str], features: Sequence[str]
                   ) -> pl.DataFrame:
    """``frame`` if its ``keys`` columns hold at most `max_segments` distinct segments.

    ``features``: the segment's feature names, for the message.

    Examples
    --------
    >>> check_segments(pl.DataFrame({"segment_0": ["a", "b", "a"]}), ["segment_0"],
    ...                ["country"]).height
    3
    """
    present = [k for k in keys if k in frame.columns]
    limit = max_segments()
    if not present or frame.height <= limit:
        return frame
    count = frame.select(present).n_unique()
    if count > limit:
        names = ", ".join(features)
        raise invalid("segment", f"features with at most {limit:,} segments in the window "
                      f"({names} has {count:,}: one answer per segment would take minutes; "
                      f"choose coarser features, pick values with a filter such as "
                      f"{{'{features[0]}': [...]}}, or raise {ENV})", list(features))
    return frame
