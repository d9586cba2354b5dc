"""Deterministic, sticky traffic routing for A/B tests and gradual rollouts.

Every unit (a user, a request key, a tenant ...) gets a **bucket** in ``[0, 1)`` from a hash of
``(experiment salt, unit id)``; it is routed to version B iff ``bucket < share_b``. Hence:

- *sticky*: the same unit always lands in the same arm of the same experiment;
- *uniform*: the share of B converges to ``share_b``;
- *monotone*: growing ``share_b`` (10 % → 20 %) only moves units from A to B, never back;
- *independent between experiments*: different salts give unrelated buckets.

**The hash is fixed by this module, not by a library version** (polars' and Python's built-in
``hash`` change between versions or processes). It is implemented in numpy ``uint64``
arithmetic (wrapping modulo 2**64) and in pure Python for single decisions, and pinned by golden
values in the tests:

- ``fmix(z)`` is the SplitMix64 output function (Steele, Lea & Flood 2014; Stafford's
  "variant 13" finaliser): ``z += 0x9E3779B97F4A7C15; z = (z ^ z >> 30) * 0xBF58476D1CE4E5B9;
  z = (z ^ z >> 27) * 0x94D049BB133111EB; z ^= z >> 31``.
- The key of an **integer** id is the id modulo 2**64 (two's complement). The key of a
  **string** id is the polynomial ``sum((byte_j + 1) * P**j) mod 2**64`` over its UTF-8 bytes
  with ``P = 0x100000001B3`` (the FNV-64 prime), computed vectorised by a Horner loop over
  zero-padded byte matrices read from polars' Arrow string views (``_string_hash``).
  Integer ``123`` and string ``"123"`` are therefore different units; log and route ids of one
  type.
- The salt is the first 8 bytes (little endian) of ``blake2b(experiment_key, digest_size=8)``.
- ``bucket = (fmix(key ^ salt) >> 11) * 2**-53``.

Examples
--------
>>> salt = experiment_salt("n1-detector:1.0.0->1.1.0")
>>> arms = assign_arms([1, 2, 3, 4, 5, 6, 7, 8], 0.5, salt=salt)
>>> arms.tolist() == assign_arms([1, 2, 3, 4, 5, 6, 7, 8], 0.5, salt=salt).tolist()
True
>>> unit_bucket(7, salt) == float(unit_buckets([7], salt)[0])
True
"""

from __future__ import annotations

import functools
import hashlib
import math
import random
from typing import Any

import numpy as np
import polars as pl
from numpy.typing import NDArray

from mlmkit._validation import check_int, check_name, check_probability, invalid
from mlmkit.analysis.routing.string_hash import string_keys
from mlmkit.values import ABTestConfig, Version

__all__ = [
    "assign_arms",
    "experiment_salt",
    "routing_share_b",
    "select_arm",
    "select_version",
    "unit_bucket",
    "unit_buckets",
]

_MASK = (1 << 64) - 1
_GAMMA = 0x9E3779B97F4A7C15
_M1 = 0xBF58476D1CE4E5B9
_M2 = 0x94D049BB133111EB
_PRIME = 0x100000001B3
_SCALE = 2.0 ** -53
_MIX_CHUNK = 1 << 16
_RNG = random.Random()
# id(config) -> (config, share_b, salt): configs are frozen, so this is a pure cache
_CONFIGS: dict[int, tuple[ABTestConfig, float, int]] = {}


@functools.lru_cache(maxsize=4096)
def experiment_salt(key: str) -> int:
    """The 64-bit routing salt of an experiment key (blake2b, stable across versions).

    Parameters
    ----------
    key : str
        Experiment key, e.g.
        [`mlmkit.values.ABTestConfig.experiment_key`][mlmkit.values.ABTestConfig.experiment_key].

    Returns
    -------
    int
        An integer in ``[0, 2**64)``.

    Examples
    --------
    >>> experiment_salt("n1-detector:1.0.0->1.1.0")
    4590651716473487241
    """
    check_name("key", key)
    return int.from_bytes(hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest(), "little")


# ----------------------------------------------------------------------------- scalar path
def _fmix(z: int) -> int:
    z = (z + _GAMMA) & _MASK
    z = ((z ^ (z >> 30)) * _M1) & _MASK
    z = ((z ^ (z >> 27)) * _M2) & _MASK
    return z ^ (z >> 31)


def _scalar_key(unit_id: Any) -> int:
    kind = type(unit_id)
    if kind is int:
        return unit_id & _MASK
    if kind is str:
        return _string_key(unit_id)
    if isinstance(unit_id, str):
        return _string_key(str(unit_id))
    if isinstance(unit_id, (bool, np.bool_)) or not isinstance(unit_id, (int, np.integer)):
        raise invalid("unit_id", "an int or a str", unit_id)
    return int(unit_id) & _MASK


@functools.lru_cache(maxsize=65536)
def _string_key(unit_id: str) -> int:
    # Horner form of sum((byte_j + 1) * P**j): big ints, one mask at the end
    h = 0
    for byte in reversed(unit_id.encode("utf-8")):
        h = h * _PRIME + byte + 1
    return h & _MASK


def unit_bucket(unit_id: int | str, salt: int) -> float:
    """The bucket in ``[0, 1)`` of one unit (pure Python; equals `unit_buckets`).

    Examples
    --------
    >>> round(unit_bucket("user-42", experiment_salt("exp")), 6)
    0.219602
    """
    v = _fmix(_scalar_key(unit_id) ^ (salt & _MASK))
    return (v >> 11) * _SCALE


# ----------------------------------------------------------------------------- vector path
def _vfmix(z: NDArray[np.uint64]) -> NDArray[np.uint64]:
    """SplitMix64 finaliser in place on a fresh array (wrapping uint64 arithmetic)."""
    z += np.uint64(_GAMMA)
    z ^= z >> np.uint64(30)
    z *= np.uint64(_M1)
    z ^= z >> np.uint64(27)
    z *= np.uint64(_M2)
    z ^= z >> np.uint64(31)
    return z


def _as_keys(unit_ids: Any) -> NDArray[np.uint64]:
    expectation = "a 1-D sequence of int or str unit ids without nulls"
    if isinstance(unit_ids, np.ndarray) and unit_ids.dtype.kind in "iu":
        if unit_ids.ndim != 1:
            raise invalid("unit_ids", expectation, unit_ids)
        return unit_ids.astype(np.int64, copy=False).view(np.uint64)
    if isinstance(unit_ids, (str, bytes)):
        raise invalid("unit_ids", expectation, unit_ids)
    try:
        series = unit_ids if isinstance(unit_ids, pl.Series) else pl.Series(unit_ids)
    except (TypeError, ValueError, OverflowError, pl.exceptions.PolarsError) as err:
        raise invalid("unit_ids", expectation, unit_ids) from err
    if series.null_count():
        raise invalid("unit_ids", expectation, "ids with nulls")
    if series.dtype.is_integer():
        return series.cast(pl.Int64, wrap_numerical=True).to_numpy().view(np.uint64)
    if series.dtype == pl.String:
        return string_keys(series)
    if series.dtype == pl.Null and len(series) == 0:
        return np.zeros(0, dtype=np.uint64)
    raise invalid("unit_ids", expectation, f"dtype {series.dtype}")


def unit_buckets(unit_ids: Any, salt: int) -> NDArray[np.float64]:
    """Buckets in ``[0, 1)`` of many units (vectorised; see the module docstring).

    Parameters
    ----------
    unit_ids : array-like of int or str
        numpy integer array, polars Series (integer or string) or a list.
    salt : int
        Experiment salt ([`experiment_salt`][mlmkit.analysis.routing.experiment_salt]).

    Returns
    -------
    numpy.ndarray of float64

    Examples
    --------
    >>> b = unit_buckets(np.arange(100_000), experiment_salt("exp"))
    >>> bool((b >= 0).all() and (b < 1).all()), round(float(b.mean()), 2)
    (True, 0.5)
    """
    salt = check_int("salt", salt, low=0, high=_MASK)
    return _mixed(_as_keys(unit_ids), salt).astype(np.float64) * _SCALE


def _mixed(keys: NDArray[np.uint64], salt: int) -> NDArray[np.uint64]:
    """``fmix(key ^ salt) >> 11`` in cache-sized chunks (53-bit integers)."""
    out = np.empty(keys.shape[0], dtype=np.uint64)
    salt_ = np.uint64(salt)
    for lo in range(0, keys.shape[0], _MIX_CHUNK):
        z = keys[lo:lo + _MIX_CHUNK] ^ salt_
        z = _vfmix(z)
        np.right_shift(z, np.uint64(11), out=out[lo:lo + _MIX_CHUNK])
    return out


def assign_arms(unit_ids: Any, share_b: float, *, salt: int) -> NDArray[np.bool_]:
    """Route many units: ``True`` where the unit is in B (``bucket < share_b``).

    Examples
    --------
    >>> arms = assign_arms(np.arange(100_000), 0.2, salt=experiment_salt("exp"))
    >>> round(float(arms.mean()), 2)
    0.2
    """
    share = check_probability("share_b", share_b)
    salt = check_int("salt", salt, low=0, high=_MASK)
    # bucket < share  <=>  (v >> 11) < ceil(share * 2**53), exactly (power-of-two scaling)
    threshold = np.uint64(math.ceil(share * 2.0 ** 53))
    return _mixed(_as_keys(unit_ids), salt) < threshold


def select_arm(share_b: float, unit_id: int | str | None = None, *, salt: int) -> str:
    """Route one unit to ``"A"`` or ``"B"``; without ``unit_id`` the choice is random.

    Examples
    --------
    >>> select_arm(1.0, "user-1", salt=1), select_arm(0.0, "user-1", salt=1)
    ('B', 'A')
    """
    if unit_id is None:
        return "B" if _RNG.random() < share_b else "A"
    return "B" if unit_bucket(unit_id, salt) < share_b else "A"


def routing_share_b(config: ABTestConfig) -> float:
    """The share of traffic routed to B under ``config`` (``config.traffic_split_b``)."""
    return config.traffic_split_b


def select_version(config: ABTestConfig, unit_id: int | str | None = None) -> Version:
    """The version serving ``unit_id`` under ``config`` (sticky; random without an id).

    The salt is [`experiment_salt`][mlmkit.analysis.routing.experiment_salt] of
    ``config.experiment_key``, which does not include the traffic split, so a gradual rollout keeps
    every unit already in B there.

    Examples
    --------
    >>> cfg = ABTestConfig.create("n1-detector", "1.0.0", "1.1.0", 0.5)
    >>> select_version(cfg, "user-1") == select_version(cfg, "user-1")
    True
    >>> str(select_version(cfg.with_traffic_split_b(1.0), "user-1"))
    '1.1.0'
    """
    entry = _CONFIGS.get(id(config))
    if entry is None or entry[0] is not config:
        if len(_CONFIGS) > 1024:
            _CONFIGS.clear()
        entry = (config, config.traffic_split_b, experiment_salt(config.experiment_key))
        _CONFIGS[id(config)] = entry
    _, share_b, salt = entry
    if unit_id is None:
        return config.version_b if _RNG.random() < share_b else config.version_a
    return config.version_b if unit_bucket(unit_id, salt) < share_b else config.version_a
