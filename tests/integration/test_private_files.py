"""What the server keeps is its user's alone: the home, the token, the database, logs, a
job's work dir and log, and stored objects are neither group- nor world-readable, even in a
home that was open before the server started."""

from __future__ import annotations

import stat
from pathlib import Path

from tests.support import RunningServer, fit_xgboost, free_port


def open_to_others(home: Path, ignore: Path) -> list[str]:
    found = []
    for path in [home, *home.rglob("*")]:
        if path == ignore:
            continue
        mode = path.lstat().st_mode
        if not stat.S_ISLNK(mode) and mode & 0o077:
            found.append(f"{path.relative_to(home)} {stat.filemode(mode)}")
    return found


def test_nothing_in_the_home_is_readable_by_others_after_a_job(
    tmp_path: Path, breast_cancer_csvs: dict[str, Path]
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    home.chmod(0o755)  # a home someone made open, before the server's first start
    server = RunningServer(home, free_port()).start()
    try:
        session = server.session()
        train = session.upload_data(breast_cancer_csvs["train"], key_prefix="private/train")
        fit_xgboost(session, train, "private-job", num_round=2)
        assert stat.S_IMODE(home.stat().st_mode) == 0o700
        kept = {p.name for p in home.rglob("*")}
        assert {"private-job", "model.tar.gz"} <= kept, sorted(kept)  # the walk saw them
        # (the test's own capture of the server's output is not the server's)
        assert open_to_others(home, ignore=server.log) == []
    finally:
        server.cleanup()
