"""The fold split every fold's process makes: the same rows for the same seed, disjoint
held-out parts that cover the channel, labels kept in proportion, each data format kept."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from modelyard.errors import InvalidRequest
from modelyard.runtime.folds import split_fold


def fold(number: int, **change: Any) -> dict[str, Any]:
    return {"fold": number, "folds": 3, "stratify": False, "shuffle": True, "random_seed": 1,
            "channel": "train", "validation_channel": "validation", **change}  # fmt: skip


def channels(tmp_path: Path, files: dict[str, bytes]) -> dict[str, Path]:
    """A fresh job's channel dirs: the source's files, and an empty held-out dir."""
    train, held = tmp_path / "train", tmp_path / "validation"
    train.mkdir(parents=True)
    held.mkdir()
    for name, data in files.items():
        (train / name).write_bytes(data)
    return {"train": train, "validation": held}


def lines(path: Path) -> list[bytes]:
    return [line for f in sorted(path.iterdir()) for line in f.read_bytes().splitlines()]


CSV = b"".join(b"%d,%d,0.5\n" % (i % 4 == 0, i) for i in range(24))
HALF = CSV.index(b",12,") - 1  # where row 12 starts: two files of whole rows


def test_csv_folds_are_disjoint_and_cover_every_row_of_every_file(tmp_path: Path) -> None:
    held_out: list[bytes] = []
    for number in range(3):
        dirs = channels(tmp_path / str(number), {"a.csv": CSV[:HALF], "b.csv": CSV[HALF:]})
        kept, held = split_fold(fold(number), dirs, "text/csv", None)
        assert (kept, held) == (16, 8)
        assert sorted(lines(dirs["train"]) + lines(dirs["validation"])) == sorted(CSV.splitlines())
        held_out += lines(dirs["validation"])
    assert sorted(held_out) == sorted(CSV.splitlines())


def test_the_split_depends_on_the_seed_only(tmp_path: Path) -> None:
    def held(seed: int, where: str) -> list[bytes]:
        dirs = channels(tmp_path / where, {"a.csv": CSV})
        split_fold(fold(0, random_seed=seed), dirs, "text/csv", None)
        return lines(dirs["validation"])

    first = held(1, "a")
    assert held(1, "b") == first
    assert held(2, "c") != first


def test_stratified_folds_keep_each_labels_share(tmp_path: Path) -> None:
    for number in range(3):
        dirs = channels(tmp_path / str(number), {"a.csv": CSV})
        split_fold(fold(number, stratify=True), dirs, "text/csv", None)
        labels = [line.split(b",")[0] for line in lines(dirs["validation"])]
        assert labels.count(b"1") == 2 and labels.count(b"0") == 6


def test_a_header_is_repeated_and_stratify_reads_the_named_label(tmp_path: Path) -> None:
    data = b"id,y\n" + b"".join(b"%d,%d\n" % (i, i % 3 == 0) for i in range(30))
    dirs = channels(tmp_path, {"a.csv": data})
    split_fold(fold(1, stratify=True), dirs, "text/csv;header=present", "y")
    for part in ("train", "validation"):
        rows = lines(dirs[part])
        assert rows[0] == b"id,y" and b"id,y" not in rows[1:]
    held = [line.split(b",")[1] for line in lines(dirs["validation"])[1:]]
    assert len(held) == 10 and held.count(b"1") in (3, 4)  # 10 of 30 rows are positive


def test_libsvm_rows_are_kept_byte_for_byte(tmp_path: Path) -> None:
    data = b"".join(b"%d 0:%d 3:1.5\n" % (i % 2, i) for i in range(9))
    dirs = channels(tmp_path, {"a.libsvm": data})
    split_fold(fold(2, stratify=True), dirs, "text/libsvm", None)
    assert sorted(lines(dirs["train"]) + lines(dirs["validation"])) == sorted(data.splitlines())
    assert [p.name for p in dirs["validation"].iterdir()] == ["validation.libsvm"]


def test_parquet_is_split_by_rows(tmp_path: Path) -> None:
    frame = pd.DataFrame({"label": [0, 1] * 6, "x": np.arange(12.0)})
    dirs = channels(tmp_path, {})
    frame.to_parquet(dirs["train"] / "part-0.parquet")
    split_fold(fold(0, stratify=True), dirs, "application/x-parquet", "label")
    kept = pd.read_parquet(dirs["train"] / "train.parquet")
    held = pd.read_parquet(dirs["validation"] / "validation.parquet")
    assert sorted([*kept["x"], *held["x"]]) == list(frame["x"])
    assert list(held["label"]).count(1) == 2


def test_fewer_rows_than_folds_is_a_clear_error(tmp_path: Path) -> None:
    dirs = channels(tmp_path, {"a.csv": b"1,2\n0,3\n"})
    with pytest.raises(InvalidRequest, match="has 2 row\\(s\\), fewer than the 3 folds"):
        split_fold(fold(0), dirs, "text/csv", None)
