"""`runtime.forked`: an entry point run in a forked child, its output in a log, its exit
status and signals as Popen gives them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from modelyard.runtime.forked import ForkedProcess


def echo(argv: list[str]) -> int:
    print("argv", argv, "variable", os.environ.get("FORKED_TEST"), "path" in os.environ)
    print("to stderr", file=sys.stderr)
    return int(argv[0])


def fails(argv: list[str]) -> int:
    raise RuntimeError("broken on purpose")


def exits(argv: list[str]) -> int:
    raise SystemExit(7)


def sleeps(argv: list[str]) -> int:
    time.sleep(60)
    return 0


def test_the_child_runs_with_its_arguments_and_environment_only(tmp_path: Path) -> None:
    log = tmp_path / "child.log"
    child = ForkedProcess(echo, ["3"], {"FORKED_TEST": "yes"}, log)
    assert child.wait(timeout=30) == 3
    text = log.read_text()
    assert "argv ['3'] variable yes False" in text  # nothing of the parent's environment
    assert "to stderr" in text
    assert os.environ.get("FORKED_TEST") is None  # the parent's is untouched


def test_an_exception_exits_1_with_its_traceback_and_system_exit_keeps_its_code(
    tmp_path: Path,
) -> None:
    failed = ForkedProcess(fails, [], {}, tmp_path / "failed.log")
    assert failed.wait(timeout=30) == 1
    assert "RuntimeError: broken on purpose" in (tmp_path / "failed.log").read_text()
    assert ForkedProcess(exits, [], {}, tmp_path / "exits.log").wait(timeout=30) == 7


def test_terminate_kill_and_a_wait_that_times_out(tmp_path: Path) -> None:
    child = ForkedProcess(sleeps, [], {}, tmp_path / "sleeps.log")
    assert child.poll() is None
    with pytest.raises(subprocess.TimeoutExpired):
        child.wait(timeout=0.05)
    child.terminate()
    assert child.wait(timeout=30) == -signal.SIGTERM
    child.kill()  # already gone: nothing to signal, no error
    other = ForkedProcess(sleeps, [], {}, tmp_path / "killed.log")
    other.kill()
    assert other.wait(timeout=30) == -signal.SIGKILL
