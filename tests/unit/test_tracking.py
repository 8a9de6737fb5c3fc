"""modelyard.log_metric: an append for the training loop, never an error, whatever the server does.

The control plane here is a closed port (nothing listens) or a small HTTP peer in the test that
records what it is sent; the real server is in tests/integration/test_durability.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import warnings
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

import modelyard
from modelyard import tracking
from modelyard.runtime import reporter as reporter_module
from tests.support import free_port

JOB_ENV = ("MODELYARD_JOB_TOKEN", "MODELYARD_JOB_CONTROL_URL", "TRAINING_JOB_NAME")


class ControlPlane:
    """Answers every report with `status` and keeps the bodies and headers it was sent."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.requests: list[tuple[str, dict[str, str], dict[str, Any]]] = []
        peer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                peer.requests.append((self.path, dict(self.headers), body))
                answer = b'{"error": {"message": "refused by the test"}}'
                self.send_response(peer.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def no_background_flush(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Points stay in the buffer until the test flushes them, and nothing is left to the
    pytest process's exit: the reporter a test started is discarded afterwards, unsent."""
    monkeypatch.setattr(reporter_module, "FLUSH_EVERY_SECONDS", 3600.0)
    monkeypatch.setattr(tracking, "_reporter", None)
    monkeypatch.setattr(tracking, "_reporter_key", None)
    yield
    started = tracking._reporter
    tracking._reporter, tracking._reporter_key = None, None
    if started is not None:
        started._take()
        started.close()


def in_a_job(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("MODELYARD_JOB_TOKEN", "job-token")
    monkeypatch.setenv("MODELYARD_JOB_CONTROL_URL", url)
    monkeypatch.setenv("TRAINING_JOB_NAME", "tracked-job")


def buffered() -> list[dict[str, Any]]:
    assert tracking._reporter is not None
    return list(tracking._reporter._buffer)


def test_outside_a_job_it_warns_once_and_does_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in JOB_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(tracking, "_warned", False)
    monkeypatch.setattr(tracking, "_reporter", None)
    with pytest.warns(UserWarning, match="not inside a modelyard training job"):
        modelyard.log_metric("loss", 0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a second warning would raise here
        modelyard.log_metric("loss", 0.4)
    assert tracking._reporter is None


def test_with_the_control_plane_away_a_metric_returns_at_once_and_is_kept(
    monkeypatch: pytest.MonkeyPatch, no_background_flush: None
) -> None:
    in_a_job(monkeypatch, f"http://127.0.0.1:{free_port()}")  # nothing listens there
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        modelyard.log_metric("loss", 0.25, step=3)
        modelyard.log_metric("accuracy", 1)
    points = buffered()
    assert [(p["name"], p["value"], p["step"]) for p in points] == [
        ("loss", 0.25, 3),
        ("accuracy", 1.0, None),
    ]
    assert all(p["timestamp"] for p in points)


def test_values_that_cannot_be_recorded_are_warned_about_and_dropped(
    monkeypatch: pytest.MonkeyPatch, no_background_flush: None
) -> None:
    import numpy as np

    in_a_job(monkeypatch, f"http://127.0.0.1:{free_port()}")
    for value in (float("nan"), float("inf"), -np.inf):
        with pytest.warns(UserWarning, match="not recorded"):
            modelyard.log_metric("loss", value)
    with pytest.warns(UserWarning, match="not a number"):
        modelyard.log_metric("loss", "low")  # type: ignore[arg-type]
    with pytest.warns(UserWarning, match="not an integer"):
        modelyard.log_metric("loss", 0.1, step=1.5)  # type: ignore[arg-type]
    modelyard.log_metric("loss", np.float32(0.5), step=np.int64(7))  # numpy scalars are fine
    assert [(p["value"], p["step"]) for p in buffered()] == [(0.5, 7)]
    assert type(buffered()[0]["step"]) is int  # JSON-encodable, unlike np.int64


def test_buffered_points_go_in_one_batch_with_the_jobs_token(
    monkeypatch: pytest.MonkeyPatch, no_background_flush: None
) -> None:
    peer = ControlPlane()
    try:
        in_a_job(monkeypatch, peer.url)
        for step in range(3):
            modelyard.log_metric("loss", 1.0 / (step + 1), step=step)
        assert peer.requests == []  # logging sent nothing by itself
        assert tracking._reporter is not None
        tracking._reporter.flush()
    finally:
        peer.close()
    [(path, headers, body)] = peer.requests
    assert path == "/api/v1/training-jobs/tracked-job/report"
    assert headers["Authorization"] == "Bearer job-token"
    assert [(p["name"], p["value"], p["step"]) for p in body["metrics"]] == [
        ("loss", 1.0, 0),
        ("loss", 0.5, 1),
        ("loss", 1.0 / 3, 2),
    ]


def test_a_refused_report_is_warned_about_never_raised(
    monkeypatch: pytest.MonkeyPatch, no_background_flush: None, capfd: pytest.CaptureFixture[str]
) -> None:
    peer = ControlPlane(status=403)
    try:
        in_a_job(monkeypatch, peer.url)
        modelyard.log_metric("loss", 0.5)
        assert tracking._reporter is not None
        tracking._reporter.flush()  # where the background thread would meet the refusal
    finally:
        peer.close()
    assert len(peer.requests) == 1  # a refusal is not retried
    assert "report rejected" in capfd.readouterr().err
    assert buffered() == []
    modelyard.log_metric("loss", 0.4)  # and logging goes on
    assert len(buffered()) == 1


def run_script(code: str, url: str) -> subprocess.CompletedProcess[str]:
    env = {
        "MODELYARD_JOB_TOKEN": "job-token",
        "MODELYARD_JOB_CONTROL_URL": url,
        "TRAINING_JOB_NAME": "tracked-job",
        "PYTHONPATH": ":".join(p for p in sys.path if p),
    }
    # The timeout only keeps a hang from stalling the run; the claims are the asserts below.
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300
    )


def test_what_is_buffered_at_exit_is_sent_before_the_process_ends() -> None:
    peer = ControlPlane()
    try:
        result = run_script(
            "import modelyard\n"
            "from modelyard.runtime import reporter\n"
            "reporter.FLUSH_EVERY_SECONDS = 3600.0  # only the exit flush sends\n"
            "for step in range(5):\n"
            "    modelyard.log_metric('loss', 0.5, step=step)\n",
            peer.url,
        )
    finally:
        peer.close()
    assert result.returncode == 0, result.stderr
    steps = [p["step"] for _, _, body in peer.requests for p in body["metrics"]]
    assert steps == [0, 1, 2, 3, 4]


def test_at_exit_an_unreachable_control_plane_is_waited_for_boundedly_and_never_raises() -> None:
    result = run_script(
        "import modelyard\n"
        "from modelyard import tracking\n"
        "tracking.EXIT_FLUSH_SECONDS = 1.0\n"
        "modelyard.log_metric('loss', 0.5)\n"
        "print('script done', flush=True)\n",
        f"http://127.0.0.1:{free_port()}",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "script done\n"
    assert "did not answer within 1s of exit" in result.stderr
    assert "Traceback" not in result.stderr


def test_status_changes_are_stamped_when_they_happen_and_travel_together(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A job's statuses never wait on the control plane: they queue with their own times and
    go, with the metrics logged meanwhile, in one request."""
    monkeypatch.setattr(reporter_module, "FLUSH_EVERY_SECONDS", 3600.0)
    monkeypatch.setattr(reporter_module, "COALESCE_SECONDS", 3600.0)  # only close() sends
    peer = ControlPlane()
    try:
        reporter = reporter_module.Reporter(peer.url, "quick-job", "job-token")
        reporter.status("Downloading", "Downloading input data")
        reporter.status("Training", "Training in progress")
        reporter.metric("score", 0.75)
        reporter.status("Uploading", "Uploading generated training model")
        assert peer.requests == []  # none of it waited for a round trip
        reporter.close()
    finally:
        peer.close()
    [(path, _, body)] = peer.requests
    assert path == "/api/v1/training-jobs/quick-job/report"
    statuses = body["statuses"]
    assert [s["secondary_status"] for s in statuses] == ["Downloading", "Training", "Uploading"]
    stamps = [s["timestamp"] for s in statuses]
    assert stamps == sorted(stamps) and all(stamps)
    assert [(m["name"], m["value"]) for m in body["metrics"]] == [("score", 0.75)]


def test_detach_hands_back_what_is_unsent_and_sends_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A job process's last statuses and metrics go into its result.json instead of a last
    round trip: detach() returns them, and nothing of them reaches the peer."""
    monkeypatch.setattr(reporter_module, "FLUSH_EVERY_SECONDS", 3600.0)
    monkeypatch.setattr(reporter_module, "COALESCE_SECONDS", 3600.0)
    peer = ControlPlane()
    try:
        reporter = reporter_module.Reporter(peer.url, "quick-job", "job-token")
        reporter.status("Uploading", "Uploading generated training model")
        reporter.metric("score", 0.5, step=None)
        unsent = reporter.detach()
    finally:
        peer.close()
    assert peer.requests == []
    assert [s["secondary_status"] for s in unsent["statuses"]] == ["Uploading"]
    assert [(m["name"], m["value"]) for m in unsent["metrics"]] == [("score", 0.5)]
