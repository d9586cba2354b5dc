"""Streaming drift detectors: injected changes found within the documented delay, no alarm on
stationary seeded streams, one contract for the whole family."""

from __future__ import annotations

import copy
import math

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlmkit.analysis.detectors import (
    ADWIN,
    CUSUM,
    DDM,
    DETECTORS,
    EDDM,
    DetectionResult,
    DriftDetector,
    PageHinkley,
    make_detector,
    run_detector,
)
from mlmkit.exceptions import ValidationError

CHANGE_AT = 5000
# Documented upper bounds on the delay for error rate 0.1 -> 0.4 at t = 5000 (default params).
MAX_DELAY = {"ddm": 600, "eddm": 1000, "adwin": 500, "page_hinkley": 1000, "cusum": 300}
STATIONARY_SEEDS = (11, 12, 13)
CHANGE_SEEDS = (21, 22, 23)


def _bernoulli(rng: np.random.Generator, rates: list[float], length: int) -> np.ndarray:
    return np.concatenate([rng.random(length) < r for r in rates]).astype(np.int8)


@pytest.mark.parametrize("name", sorted(DETECTORS))
@pytest.mark.parametrize("seed", STATIONARY_SEEDS)
def test_no_alarm_on_stationary_stream(name: str, seed: int) -> None:
    stream = np.random.default_rng(seed).random(50_000) < 0.1
    result = run_detector(make_detector(name), stream)
    assert result.drift_indices == ()
    assert result.n == 50_000


@pytest.mark.parametrize("name", sorted(DETECTORS))
@pytest.mark.parametrize("seed", CHANGE_SEEDS)
def test_detects_error_rate_increase_within_delay(name: str, seed: int) -> None:
    stream = _bernoulli(np.random.default_rng(seed), [0.1, 0.4], CHANGE_AT)
    result = run_detector(make_detector(name), stream)
    assert result.drift_indices, f"{name} missed the change"
    first = result.drift_indices[0]
    assert CHANGE_AT <= first <= CHANGE_AT + MAX_DELAY[name]


@pytest.mark.parametrize("mode", ["down", "both"])
@pytest.mark.parametrize("seed", CHANGE_SEEDS)
def test_page_hinkley_detects_improvement(mode: str, seed: int) -> None:
    stream = _bernoulli(np.random.default_rng(seed), [0.4, 0.1], CHANGE_AT)
    detector = PageHinkley(mode=mode)
    result = run_detector(detector, stream)
    assert CHANGE_AT <= result.drift_indices[0] <= CHANGE_AT + MAX_DELAY["page_hinkley"]
    assert detector.drift_direction == "down"


def test_page_hinkley_up_ignores_improvement() -> None:
    stream = _bernoulli(np.random.default_rng(5), [0.4, 0.1], CHANGE_AT)
    assert run_detector(PageHinkley(mode="up"), stream).drift_indices == ()
    assert run_detector(PageHinkley(mode="down"), _bernoulli(
        np.random.default_rng(5), [0.1, 0.4], CHANGE_AT)).drift_indices == ()


@pytest.mark.parametrize("cls", [ADWIN, CUSUM])
def test_two_sided_detectors_find_improvement(cls: type[DriftDetector]) -> None:
    stream = _bernoulli(np.random.default_rng(3), [0.4, 0.1], CHANGE_AT)
    result = run_detector(cls(), stream)
    assert CHANGE_AT <= result.drift_indices[0] <= CHANGE_AT + 500


@pytest.mark.parametrize("cls", [ADWIN, CUSUM, PageHinkley])
def test_real_valued_mean_shift(cls: type[DriftDetector]) -> None:
    rng = np.random.default_rng(9)
    stream = np.concatenate([rng.normal(0.0, 1.0, 3000), rng.normal(2.0, 1.0, 1000)])
    params = {"threshold": 50.0} if cls is PageHinkley else {}
    first = run_detector(cls(**params), stream).drift_indices[0]
    assert 3000 <= first <= 3200


def test_cusum_known_target_and_direction() -> None:
    stream = _bernoulli(np.random.default_rng(4), [0.1, 0.4], CHANGE_AT)
    detector = CUSUM(target=0.1, sigma=0.3)
    result = run_detector(detector, stream)
    assert CHANGE_AT <= result.drift_indices[0] <= CHANGE_AT + 300
    assert detector.drift_direction == "up"


# ---------------------------------------------------------------- contract, whole family


def _state(detector: DriftDetector) -> dict:
    return {k: (None if isinstance(v, float) and math.isnan(v) else v)
            for k, v in vars(detector).items()}


@pytest.mark.parametrize("name", sorted(DETECTORS))
def test_contract(name: str) -> None:
    detector = make_detector(name)
    assert isinstance(detector, DriftDetector)
    fresh = copy.deepcopy(_state(detector))
    flags = (detector.drift_detected, detector.warning_detected, detector.n_seen)
    assert flags == (False, False, 0)
    assert detector.update(1) is detector
    assert detector.update(True).update(0) is detector
    assert detector.n_seen == 3
    for prop in ("drift_detected", "warning_detected", "n_seen"):
        with pytest.raises(AttributeError):
            setattr(detector, prop, True)
    stream = _bernoulli(np.random.default_rng(1), [0.1, 0.5], 3000)
    first = run_detector(detector, stream)
    assert first.drift_indices
    assert detector.n_seen == 3 + stream.size
    detector.reset()
    assert _state(detector) == fresh
    assert run_detector(detector, np.concatenate([[1, 1, 0], stream])).drift_indices == tuple(
        i + 3 for i in first.drift_indices)
    # the registry round-trips parameters
    assert repr(make_detector(name, **detector.params)) == repr(detector)


@pytest.mark.parametrize("name", sorted(DETECTORS))
def test_run_detector_equals_manual_loop_and_chunks(name: str) -> None:
    stream = _bernoulli(np.random.default_rng(2), [0.1, 0.45, 0.1], 2500)
    manual = make_detector(name)
    drifts, warnings, was = [], [], False
    for i, x in enumerate(stream.tolist()):
        manual.update(x)
        if manual.drift_detected:
            drifts.append(i)
        if manual.warning_detected and not was:
            warnings.append(i)
        was = manual.warning_detected
    whole = run_detector(make_detector(name), pl.Series(stream))
    assert whole.drift_indices == tuple(drifts)
    assert whole.warning_indices == tuple(warnings)
    chunked = make_detector(name)
    a = run_detector(chunked, stream[:4000])
    b = run_detector(chunked, stream[4000:])
    assert a.drift_indices + tuple(i + 4000 for i in b.drift_indices) == whole.drift_indices


def test_detection_result_forms() -> None:
    stream = _bernoulli(np.random.default_rng(7), [0.1, 0.4], CHANGE_AT)
    result = run_detector(DDM(), stream)
    assert isinstance(result, DetectionResult)
    with pytest.raises(AttributeError):
        result.n = 3  # type: ignore[misc]
    frame = result.to_frame()
    assert frame.schema == pl.Schema({"index": pl.Int64, "event": pl.String})
    assert frame.filter(pl.col("event") == "drift")["index"].to_list() == list(
        result.drift_indices)
    assert result.to_dict()["drift_indices"] == list(result.drift_indices)
    assert "<table" in result._repr_html_()
    assert result.drift_detected


def test_ddm_and_eddm_warn_before_drift() -> None:
    stream = _bernoulli(np.random.default_rng(7), [0.1, 0.4], CHANGE_AT)
    for detector in (DDM(), EDDM()):
        result = run_detector(detector, stream)
        assert result.warning_indices
        assert result.warning_indices[0] <= result.drift_indices[0]


# ---------------------------------------------------------------- ADWIN window oracle


@settings(max_examples=25, deadline=None)
@given(st.lists(st.floats(-5, 5, allow_nan=False), min_size=1, max_size=400),
       st.integers(2, 6))
def test_adwin_window_matches_brute_force(values: list[float], max_buckets: int) -> None:
    adwin = ADWIN(max_buckets=max_buckets, clock=1)
    start = 0
    for i, x in enumerate(values):
        adwin.update(x)
        if adwin.drift_detected:
            start = i  # the next update starts a fresh window
            window = np.asarray(values[: i + 1])[-adwin.width:]
        else:
            window = np.asarray(values[start if start == 0 else start + 1: i + 1])[-adwin.width:]
        assert adwin.width == window.size or adwin.drift_detected
        assert adwin.estimation == pytest.approx(window.mean(), abs=1e-9)
        assert adwin._m2 / adwin.width == pytest.approx(window.var(), abs=1e-7)
        sizes = sum(len(row) << r for r, row in enumerate(adwin._totals))
        assert sizes == adwin.width


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize("name", sorted(DETECTORS))
@pytest.mark.parametrize("bad", ["1", None, math.nan, math.inf, [1]])
def test_bad_values_rejected(name: str, bad: object) -> None:
    with pytest.raises(ValidationError, match=r"^x must be "):
        make_detector(name).update(bad)


@pytest.mark.parametrize("cls", [DDM, EDDM])
def test_binary_detectors_reject_non_binary(cls: type[DriftDetector]) -> None:
    with pytest.raises(ValidationError, match=r"^x must be 0 \(correct\) or 1 \(error\)"):
        cls().update(0.5)


@pytest.mark.parametrize(("name", "params", "param"), [
    ("ddm", {"warm_start": 0}, "warm_start"),
    ("ddm", {"warning_threshold": 3.0, "drift_threshold": 2.0}, "drift_threshold"),
    ("eddm", {"alpha": 0.8, "beta": 0.9}, "beta"),
    ("eddm", {"alpha": 1.5}, "alpha"),
    ("adwin", {"delta": 0.0}, "delta"),
    ("adwin", {"clock": 0}, "clock"),
    ("page_hinkley", {"mode": "sideways"}, "mode"),
    ("page_hinkley", {"threshold": -1.0}, "threshold"),
    ("page_hinkley", {"alpha": 0.0}, "alpha"),
    ("cusum", {"h": 0.0}, "h"),
    ("cusum", {"sigma": -1.0}, "sigma"),
    ("cusum", {"warm_start": 1}, "warm_start"),
    ("nope", {}, "name"),
    ("ddm", {"unknown": 1}, "params"),
])
def test_bad_parameters_name_the_parameter(name: str, params: dict, param: str) -> None:
    with pytest.raises(ValidationError, match=rf"^{param} must be "):
        make_detector(name, **params)


@pytest.mark.parametrize("bad", [[[0, 1]], "abc", ["a", "b"]])
def test_run_detector_bad_stream(bad: object) -> None:
    with pytest.raises(ValidationError, match=r"^stream must be "):
        run_detector(DDM(), bad)
    with pytest.raises(ValidationError, match=r"^detector must be "):
        run_detector("ddm", [0, 1])  # type: ignore[arg-type]


@pytest.mark.parametrize("name", sorted(DETECTORS))
def test_run_detector_equals_updating_one_value_at_a_time(name: str) -> None:
    """run_detector feeds the stream through `_update` without a call of `update` per value
    (checked whole first): the same drifts, warning starts, state and counts as one update at
    a time, over drifting streams that fire several times."""
    rng = np.random.default_rng(31)
    stream = _bernoulli(rng, [0.05, 0.5, 0.05, 0.6], 3000)
    if not DETECTORS[name].binary_input:
        stream = stream + rng.normal(0.0, 0.05, stream.size)
    fast, slow = make_detector(name), make_detector(name)
    result = run_detector(fast, stream)
    drifts, warnings, was = [], [], False
    for i, x in enumerate(stream.tolist()):
        slow.update(x)
        drifts += [i] if slow.drift_detected else []
        warnings += [i] if slow.warning_detected and not was else []
        was = slow.warning_detected
    assert result.drift_indices == tuple(drifts) and len(drifts) >= 2
    assert result.warning_indices == tuple(warnings)
    assert (fast.n_seen, fast.drift_detected, fast.warning_detected) == (
        slow.n_seen, slow.drift_detected, slow.warning_detected)
    assert run_detector(fast, stream[:500]) == run_detector(slow, stream[:500])  # (continues)


def test_run_detector_refuses_a_bad_stream_whole_and_names_the_position() -> None:
    ddm = DDM()
    run_detector(ddm, [0, 1, 0])
    with pytest.raises(ValidationError, match=r"stream\[2\] must be 0 \(correct\) or 1"):
        run_detector(ddm, [0, 1, 0.5, 1])
    assert ddm.n_seen == 3  # nothing of the bad stream was fed
    with pytest.raises(ValidationError, match=r"stream\[1\] must be a finite real"):
        run_detector(ADWIN(), [0.5, math.inf])
