"""Deal a channel's rows into cross-validation folds, inside the fold's own training job.

Every fold's process reads the whole source channel and splits it with the same seeded
scikit-learn splitter, so the k processes agree on the folds without talking to each other
and the control plane never reads the data. Fold K's training rows replace the source
channel's files and its held-out rows become the validation channel: the algorithm or script
then sees an ordinary train / validation job. Rows are kept byte for byte (CSV, libsvm) or
as they were read (Parquet); a CSV header is repeated at the top of both parts.
"""

from __future__ import annotations

import csv
import io
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from modelyard.algorithms.data import LIBSVM, PARQUET, list_files, parse_content_type
from modelyard.errors import InvalidRequest


def split_fold(
    fold: dict[str, Any], channels: dict[str, Path], content_type: str, label: str | None
) -> tuple[int, int]:
    """Rewrite the source and validation channel dirs as fold `fold["fold"]` of the split;
    the number of (training, held-out) rows."""
    source, held_out = channels[fold["channel"]], channels[fold["validation_channel"]]
    ctype = parse_content_type(content_type)
    files = list_files(source, skip_underscore=ctype.media_type == PARQUET)
    if ctype.media_type == PARQUET:
        import pandas as pd

        frame = pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
        column = label if label in frame.columns else frame.columns[0]
        train, test = fold_indices(fold, frame[column].astype(str).to_numpy(), len(frame))
        reset(source, held_out)
        frame.iloc[train].to_parquet(source / f"{fold['channel']}.parquet", index=False)
        held_path = held_out / f"{fold['validation_channel']}.parquet"
        frame.iloc[test].to_parquet(held_path, index=False)
        return len(train), len(test)
    header, rows = read_rows(files, ctype.header)
    labels = row_labels(rows, header, label, libsvm=ctype.media_type == LIBSVM)
    train, test = fold_indices(fold, labels, len(rows))
    suffix = files[0].suffix if files else ""
    reset(source, held_out)
    write_rows(source / f"{fold['channel']}{suffix}", header, rows, train)
    write_rows(held_out / f"{fold['validation_channel']}{suffix}", header, rows, test)
    return len(train), len(test)


def fold_indices(fold: dict[str, Any], labels: np.ndarray, count: int) -> tuple[Any, Any]:
    from sklearn.model_selection import KFold, StratifiedKFold

    k = int(fold["folds"])
    if count < k:
        raise InvalidRequest(
            f"channel {fold['channel']!r} has {count} row(s), fewer than the {k} folds",
            {"field": "folds"},
        )
    seed = int(fold["random_seed"]) if fold["shuffle"] else None
    if fold["stratify"]:
        smallest = min(np.unique(labels, return_counts=True)[1])
        if smallest < k:
            raise InvalidRequest(
                f"stratify: a label of channel {fold['channel']!r} has only {smallest} row(s), "
                f"fewer than the {k} folds; use fewer folds or stratify=False",
                {"field": "stratify"},
            )
        splitter: Any = StratifiedKFold(k, shuffle=fold["shuffle"], random_state=seed)
    else:
        splitter = KFold(k, shuffle=fold["shuffle"], random_state=seed)
    for number, (train, test) in enumerate(splitter.split(np.zeros(count), labels)):
        if number == int(fold["fold"]):
            return train, test
    raise InvalidRequest(f"fold {fold['fold']} of {k} does not exist", {"field": "fold"})


def read_rows(files: list[Path], has_header: bool) -> tuple[bytes | None, list[bytes]]:
    header: bytes | None = None
    rows: list[bytes] = []
    for path in files:
        lines = [line for line in path.read_bytes().splitlines() if line.strip()]
        if has_header and lines:
            header = header or lines[0]
            lines = lines[1:]
        rows.extend(lines)
    return header, rows


def row_labels(
    rows: list[bytes], header: bytes | None, label: str | None, libsvm: bool
) -> np.ndarray:
    """Each row's label as text: the first field (libsvm's first token), or with a header
    the column `label` names."""
    if libsvm:
        return np.array([row.split(None, 1)[0].decode("utf-8", "replace") for row in rows])
    column = 0
    if header is not None and label:
        names = next(csv.reader(io.StringIO(header.decode("utf-8", "replace"))))
        if label in names:
            column = names.index(label)
    return np.array([field(row, column) for row in rows])


def field(row: bytes, column: int) -> str:
    if column == 0 and b'"' not in row:  # the usual case, without a CSV parser per row
        return row.split(b",", 1)[0].decode("utf-8", "replace")
    return next(csv.reader(io.StringIO(row.decode("utf-8", "replace"))))[column]


def reset(*dirs: Path) -> None:
    """Empty the channel dirs: their entries are links or copies, never the user's files."""
    for path in dirs:
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)


def write_rows(path: Path, header: bytes | None, rows: list[bytes], keep: Any) -> None:
    with open(path, "wb") as out:
        if header is not None:
            out.write(header + b"\n")
        for index in keep:
            out.write(rows[index] + b"\n")
