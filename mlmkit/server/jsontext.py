"""The JSON text of request bodies: the one strict reader, and when polars reads a body alike.

`loads` reads every JSON body of the server (``json.loads``, strict about control
characters). It refuses what ``json`` would take silently or choke on later: an object giving a
key twice (``json`` keeps the last value, polars the first) and nesting deeper than
`MAX_DEPTH` (a ``RecursionError`` in ``json`` itself, or later in ``repr`` or polars). The
items of a top-level array are rows: a problem inside item ``i`` is named ``body (row i)``.

`plain` tells whether polars' reader (used for large bodies) reads a body exactly as `loads`
does: polars keeps a repeated key's first value and lets raw control characters in strings
through, so a body with either goes to `loads`, which refuses it with its row and key.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from typing import Any

from mlmkit._validation import invalid

__all__ = ["MAX_DEPTH", "loads", "plain"]

MAX_DEPTH = 64
"""How deep a JSON body may nest (objects and arrays, the outermost counted as 1)."""
_TOO_DEEP = (f"JSON nested at most {MAX_DEPTH} levels deep", f"more than {MAX_DEPTH} levels")


class _Repeated(dict[str, Any]):
    """A JSON object that gave ``key`` more than once."""

    key = ""


_NESTED = frozenset({dict, list, _Repeated})
"""The types ``json.loads`` (with `_object`) makes of JSON objects and arrays."""


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found = dict(pairs)
    if len(found) == len(pairs):
        return found
    marked = _Repeated(found)
    marked.key = next(k for k, n in Counter(k for k, _ in pairs).items() if n > 1)
    return marked


def loads(text: bytes, name: str, expected: str, *, rows: bool = False) -> Any:
    """``text`` parsed as JSON; a `ValidationError` naming ``name`` for anything else.

    ``expected`` says what the text must be (the message's "must be ..."). With ``rows``, the
    items of a top-level array are rows: an error inside item ``i`` names ``name (row i)``.

    Examples
    --------
    >>> loads(b'[{"a": 1}]', "body", "valid JSON", rows=True)
    [{'a': 1}]
    >>> try:
    ...     loads(b'[{"a": 1}, {"a": 1, "a": 2}]', "body", "valid JSON", rows=True)
    ... except ValueError as err:
    ...     print(err)
    body (row 1) must be a JSON object giving each key once; got 'a'
    """
    try:
        document = json.loads(text, object_pairs_hook=_object)
    except RecursionError as err:
        raise invalid(name, *_TOO_DEEP) from err
    except json.JSONDecodeError as err:
        where = f"line {err.lineno} column {err.colno}" if err.lineno > 1 else \
            f"column {err.colno}"
        raise invalid(name, expected, f"{err.msg}: {where}") from err
    except UnicodeDecodeError as err:
        raise invalid(name, expected, str(err)) from err
    if (problem := _problem(document, 1)) is None:
        return document
    if rows and type(document) is list:  # name the first row with a problem
        for i, item in enumerate(document):
            if (found := _problem(item, 2)) is not None:
                raise invalid(f"{name} (row {i})", *found)
    raise invalid(name, *problem)


def _problem(value: Any, depth: int) -> tuple[str, object] | None:
    """``(expected, got)`` of what is wrong with ``value`` at level ``depth``, else ``None``.

    The shallowest object giving a key twice, or a level beyond `MAX_DEPTH`; found level by
    level, so that the many rows of a body cost a few list comprehensions.
    """
    level = [value] if type(value) in _NESTED else []
    while level:
        if depth > MAX_DEPTH:
            return _TOO_DEEP
        if _Repeated in map(type, level):
            twice = next(node for node in level if type(node) is _Repeated)
            return "a JSON object giving each key once", twice.key
        level = [item for node in level
                 for item in (node if type(node) is list else node.values())
                 if type(item) in _NESTED]
        depth += 1
    return None


_SPACED_KEY = re.compile(rb'"[ \t\r\n]+:')
_WHITESPACE = (ord("\t"), ord("\n"), ord("\r"))


def plain(body: bytes) -> bool:
    """Whether polars reads ``body`` as `loads` does (else `loads` must read it).

    ``body`` has no backslash, so its strings are exactly the text between pairs of quotes.
    True when no string holds a raw control character (`loads` refuses them; polars keeps
    them) and no object gives a key twice (polars keeps the first value). Keys are grouped by
    row and nesting level, as the bodies polars may read have rows of flat objects with at
    most one nested ``features`` object; a key spaced from its colon is rare enough that such
    a body simply goes to `loads`.
    """
    import numpy as np
    import polars as pl
    import pyarrow as pa

    data = np.frombuffer(body, np.uint8)
    quotes = np.flatnonzero(data == ord('"'))
    control = np.flatnonzero(data < 0x20)
    if len(quotes) % 2 or _SPACED_KEY.search(body) \
            or (np.searchsorted(quotes, control) % 2).any() \
            or not np.isin(data[control], _WHITESPACE).all():
        return False  # (an odd count of quotes before a byte: the byte is inside a string)
    keys = np.flatnonzero(data[np.minimum(quotes[1::2] + 1, len(data) - 1)] == ord(":"))
    if not keys.size:
        return True
    braces = np.flatnonzero((data == ord("{")) | (data == ord("}")))
    braces = braces[np.searchsorted(quotes, braces) % 2 == 0]
    opening = data[braces] == ord("{")
    depth = np.cumsum(np.where(opening, 1, -1))
    last = np.searchsorted(braces, quotes[2 * keys]) - 1  # the brace before each key
    # each segment from one quote to the next, without copying: the even ones are the strings
    segments = pa.LargeBinaryArray.from_buffers(
        pa.large_binary(), len(quotes) - 1, [None, pa.py_buffer(quotes + 1), pa.py_buffer(body)])
    found = pl.DataFrame({"row": np.cumsum(opening & (depth == 1))[last], "level": depth[last],
                          "name": pl.Series(pl.from_arrow(segments)).gather(2 * keys)})
    return found.hash_rows().n_unique() == found.height  # (64-bit hashes: a collision only
    # sends the body to `loads`)
