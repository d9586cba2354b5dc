"""Routing: golden values, uniform shares, stickiness, monotone growth, independence."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from scipy import stats

from mlmkit.analysis import routing
from mlmkit.exceptions import ValidationError
from mlmkit.values import ABTestConfig

SALT = routing.experiment_salt("n1-detector:1.0.0->1.1.0")
IDS = np.arange(100_000)


def test_golden_values_pin_the_hash() -> None:
    # these numbers must never change: they decide which users see which version
    assert SALT == 4590651716473487241
    assert routing.unit_bucket(0, SALT) == pytest.approx(routing.unit_buckets([0], SALT)[0])
    golden = [round(routing.unit_bucket(u, SALT), 12) for u in (0, 1, -1, "user-42", "", "é")]
    assert golden == [round(x, 12) for x in routing.unit_buckets([0, 1, -1], SALT)] + [
        round(x, 12) for x in routing.unit_buckets(["user-42", "", "é"], SALT)]
    assert round(routing.unit_bucket("user-42", routing.experiment_salt("exp")), 6) == 0.219602


def test_scalar_and_vector_paths_agree() -> None:
    strings = [f"user-{i}" for i in range(2000)] + ["", "ü" * 70, "a\x00b"]
    vec = routing.unit_buckets(strings, SALT)
    assert np.array_equal(vec, [routing.unit_bucket(s, SALT) for s in strings])
    ints = np.arange(-1000, 1000)
    assert np.array_equal(routing.unit_buckets(ints, SALT),
                          [routing.unit_bucket(int(i), SALT) for i in ints])
    assert np.array_equal(routing.unit_buckets(pl.Series(strings), SALT), vec)
    assert np.array_equal(routing.unit_buckets(np.array(strings), SALT), vec)


@pytest.mark.parametrize("share_b", [0.1, 0.2, 0.5, 0.8])
@pytest.mark.parametrize("kind", ["int", "str"])
def test_share_within_half_a_point(share_b: float, kind: str) -> None:
    ids = IDS if kind == "int" else pl.Series([f"u{i}" for i in IDS])
    arms = routing.assign_arms(ids, share_b, salt=SALT)
    assert abs(arms.mean() - share_b) < 0.005


def test_buckets_are_uniform() -> None:
    buckets = routing.unit_buckets(IDS, SALT)
    assert stats.kstest(buckets, "uniform").pvalue > 0.001


def test_sticky_and_monotone_growth() -> None:
    cfg = ABTestConfig.for_gradual_rollout("n1-detector", "1.0.0", "1.1.0")
    first = [routing.select_version(cfg, f"user-{i}") for i in range(2000)]
    assert first == [routing.select_version(cfg, f"user-{i}") for i in range(2000)]
    previous = np.zeros(IDS.size, dtype=bool)
    for share in (0.1, 0.2, 0.5, 0.75, 1.0):
        arms = routing.assign_arms(IDS, share, salt=SALT)
        assert not np.any(previous & ~arms)  # nobody moves back from B to A
        previous = arms
    assert previous.all()
    assert not routing.assign_arms(IDS, 0.0, salt=SALT).any()


def test_two_experiments_are_independent() -> None:
    other = routing.experiment_salt("n1-detector:1.1.0->1.2.0")
    a = routing.assign_arms(IDS, 0.5, salt=SALT)
    b = routing.assign_arms(IDS, 0.5, salt=other)
    table = np.array([[np.sum(a & b), np.sum(a & ~b)], [np.sum(~a & b), np.sum(~a & ~b)]])
    assert stats.chi2_contingency(table).pvalue > 0.001


def test_select_version_without_unit_is_random() -> None:
    cfg = ABTestConfig.create("m", "1.0.0", "1.1.0", 0.7)
    picks = [str(routing.select_version(cfg)) for _ in range(20_000)]
    assert abs(picks.count("1.1.0") / 20_000 - 0.3) < 0.02


@pytest.mark.parametrize("bad", [[1.5, 2.0], [None, 1], [True, False], "abc", [[1, 2]]])
def test_bad_unit_ids(bad: object) -> None:
    with pytest.raises(ValidationError, match="unit_ids"):
        routing.unit_buckets(bad, SALT)


def test_bad_scalar_unit_id() -> None:
    with pytest.raises(ValidationError, match="unit_id"):
        routing.unit_bucket(1.5, SALT)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="share_b"):
        routing.assign_arms([1], 1.5, salt=SALT)


def _random_strings(n: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    alphabet = [*"abcXYZ09-_ ", "é", "ü", "€", "😀", "\x00"]
    lengths = rng.choice([0, 1, 5, 11, 12, 13, 16, 20, 40, 300], size=n)
    return ["".join(rng.choice(alphabet, size=k)) for k in lengths]


def test_fast_string_path_equals_scalar_reference() -> None:
    from mlmkit.analysis.routing import assign
    from mlmkit.analysis.routing import string_hash as _string_hash

    strings = _random_strings(3000, seed=1)  # byte lengths cross the 12-byte inline limit
    expected = [routing.unit_bucket(s, SALT) for s in strings]
    assert np.array_equal(routing.unit_buckets(strings, SALT), expected)
    # several chunks, sliced: view offsets and several data buffers
    parts = pl.concat([pl.Series(strings[:1000]), pl.Series(strings[1000:]),
                       pl.Series(strings[:10])], rechunk=False)[7:]
    assert parts.n_chunks() > 1
    keys = _string_hash.string_keys(parts)
    assert keys.tolist() == [assign._string_key(s) for s in parts.to_list()]
    # the offsets (large_string) fallback gives the same keys
    arrow = pl.Series(strings).to_arrow()
    assert str(arrow.type) == "large_string"
    assert _string_hash._offset_chunk_keys(arrow.slice(3)).tolist() == [
        assign._string_key(s) for s in strings[3:]]
    assert routing.unit_buckets(["", "", ""], SALT).tolist() == [routing.unit_bucket("", SALT)] * 3
