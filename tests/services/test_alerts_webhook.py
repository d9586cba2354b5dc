"""WebhookSink against a real receiver on 127.0.0.1: redirects, deadlines, errors, secrets."""

from __future__ import annotations

import http.client
import logging
import time

import pytest

import mlmkit
from mlmkit.services.alerts import SinkError, WebhookSink

from ._receiver import Receiver

ALERT = {"alert_id": 7, "rule": "drift", "severity": "warning", "message": "m",
         "idempotency_key": "alert-7-1"}


@pytest.fixture
def rx():
    receiver = Receiver()
    yield receiver
    receiver.close()


@pytest.fixture
def other():
    receiver = Receiver()
    yield receiver
    receiver.close()


def test_success_posts_json_with_idempotency_key(rx):
    WebhookSink(rx.url, timeout=2, retries=0).send(ALERT)
    (req,) = rx.requests
    assert req["method"] == "POST" and req["path"] == "/hook"
    assert req["headers"]["idempotency-key"] == "alert-7-1"
    assert req["json"]["alert_id"] == 7 and req["json"]["idempotency_key"] == "alert-7-1"


def test_500_then_200_is_retried_with_the_same_key(rx):
    rx.script = [500, 200]
    WebhookSink(rx.url, timeout=2, retries=1, backoff=0).send(ALERT)
    assert [r["headers"]["idempotency-key"] for r in rx.requests] == ["alert-7-1"] * 2


@pytest.mark.parametrize("code", [301, 302, 303, 307, 308])
@pytest.mark.parametrize("where", ["same-origin", "cross-origin", "ftp"])
def test_redirects_are_never_followed(rx, other, code, where):
    location = {"same-origin": f"{rx.origin}/moved",
                "cross-origin": f"http://u:locpw@localhost:{other.port}/steal",
                "ftp": "ftp://127.0.0.1/alerts"}[where]
    rx.script = [("redirect", code, location)]  # the redirect target would answer 200
    sink = WebhookSink(rx.url, timeout=2, retries=2, backoff=0,
                       headers={"Authorization": "Bearer tok-123"})
    with pytest.raises(SinkError, match=f"answered {code} \\(redirect") as info:
        sink.send(ALERT)
    assert [r["method"] for r in rx.requests] == ["POST"]  # no retry, no GET, no follow
    assert other.requests == []
    assert "locpw" not in str(info.value) and "tok-123" not in str(info.value)


def test_redirect_leaves_the_alert_unsent(rx):
    rx.script = [("redirect", 302, f"{rx.origin}/moved")]
    with mlmkit.open() as ws:
        ws.alerts.add_webhook(rx.url, timeout=2, retries=0)
        alert_id = ws.alerts.fire("drift", "warning", "m", "1.0.0", "x")
        row = ws.alerts.list().row(0, named=True)
        assert row["alert_id"] == alert_id and not row["sent"] and "302" in row["send_error"]
        box = ws.alerts.outbox(alert_id, status="pending")
        assert box["sink_key"].to_list() == [f"webhook:{rx.origin}/hook"]
    assert [r["method"] for r in rx.requests] == ["POST"]


@pytest.mark.parametrize("behaviour", ["trickle", "trickle_body", "slow_headers"])
def test_total_deadline_cuts_off_slow_receivers(rx, behaviour):
    rx.default = behaviour
    with mlmkit.open() as ws:
        ws.alerts.add_webhook(rx.url, timeout=1, retries=0)
        start = time.monotonic()
        ws.alerts.fire("drift", "warning", "m", "1.0.0", "x")
        elapsed = time.monotonic() - start
        row = ws.alerts.list().row(0, named=True)
    # a per-read timeout let the trickle run for 10+ s; the loose bound absorbs a busy CI box
    assert elapsed < 3.0, elapsed
    assert not row["sent"] and "deadline" in row["send_error"]


@pytest.mark.parametrize("behaviour, cause", [("reset", (OSError, http.client.HTTPException)),
                                              ("truncated", http.client.IncompleteRead)])
def test_transport_errors_become_sink_errors_with_cause(rx, behaviour, cause):
    rx.default = behaviour
    with pytest.raises(SinkError) as info:
        WebhookSink(rx.url, timeout=2, retries=1, backoff=0).send(ALERT)
    assert isinstance(info.value.__cause__, cause)
    assert isinstance(info.value, mlmkit.MlmkitError)
    assert len(rx.requests) == 2  # retried once


def test_unreachable_is_a_sink_error():
    rx = Receiver()
    url = rx.url
    rx.close()
    with pytest.raises(SinkError, match="dropped the connection") as info:
        WebhookSink(url, timeout=1, retries=0).send(ALERT)
    assert isinstance(info.value.__cause__, ConnectionRefusedError)


def test_credentials_are_sent_but_never_shown(rx, caplog):
    url = f"http://alice:pw-s3cret@127.0.0.1:{rx.port}/hook?token=tok-s3cret&team=ml"
    sink = WebhookSink(url, timeout=2, retries=0, headers={"X-Api-Key": "key-s3cret"})
    sink.send(ALERT)
    headers = rx.requests[0]["headers"]
    assert headers["authorization"].startswith("Basic ") and headers["x-api-key"] == "key-s3cret"
    assert rx.requests[0]["path"] == "/hook?token=tok-s3cret&team=ml"
    rx.default = 500
    with pytest.raises(SinkError) as info:
        sink.send(ALERT)
    shown = " ".join([str(info.value), repr(sink), sink.key, sink.display_url])
    for secret in ("pw-s3cret", "tok-s3cret", "key-s3cret", "alice:"):
        assert secret not in shown
    assert "***@127.0.0.1" in shown and "team=ml" in shown


def test_bad_urls_and_headers_are_refused():
    from mlmkit.exceptions import ValidationError

    with pytest.raises(ValidationError, match="url") as info:
        WebhookSink("ftp://bob:pw-s3cret@h/x")
    assert "pw-s3cret" not in str(info.value)
    with pytest.raises(ValidationError, match="headers"):
        WebhookSink("http://h/x", headers={"X-A": "a\r\nInjected: 1"})


def test_delivery_failure_is_logged_without_secrets(rx, caplog):
    rx.default = 500
    url = f"http://alice:pw-s3cret@127.0.0.1:{rx.port}/hook"
    with mlmkit.open() as ws, caplog.at_level(logging.DEBUG):
        ws.alerts.add_webhook(url, timeout=2, retries=0, headers={"Authorization": "Bearer b-s3"})
        ws.alerts.fire("drift", "warning", "m", "1.0.0", "x")
        assert "answered HTTP 500" in caplog.text
    assert "pw-s3cret" not in caplog.text and "b-s3" not in caplog.text
