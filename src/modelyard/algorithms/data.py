"""Read a training channel (a directory of data files) into a feature matrix and labels.

Content types, compared ignoring case and spaces (parameters in any order):

- ``text/csv``: SageMaker's convention, no header row, the label in the FIRST column.
  ``text/csv;label_size=0`` (or ``supervised=False``) means every column is a feature;
  ``label_size=1`` is the default and means the usual layout.
- ``text/csv;header=present``: a header row; the label is the column named by ``label``
  (the hyperparameter of that name), the first column by default.
- ``application/x-parquet``: the same label rule as a CSV with a header; numeric and boolean
  columns only.
- ``text/libsvm``: ``label index:value ...`` rows read with scikit-learn's svmlight reader;
  indices are taken as written (zero-based, like xgboost), so index ``k`` is column ``k``.
  X is then a ``scipy.sparse`` CSR matrix.

A channel is one file or a directory searched recursively (symlinks followed, hidden files and
directories skipped, empty files skipped, Spark's ``_SUCCESS`` / ``_metadata`` files skipped
for parquet); several files are concatenated in path order. Empty cells are missing values
(NaN) in feature columns and an error in the label column. Every problem raises
`modelyard.errors.InvalidRequest` naming the file and, where it applies, the column.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from modelyard.errors import InvalidRequest

CSV = "text/csv"
CSV_HEADER = "text/csv;header=present"
PARQUET = "application/x-parquet"
LIBSVM = "text/libsvm"
SUPPORTED: tuple[str, ...] = (CSV, CSV_HEADER, PARQUET, LIBSVM)

_ALIASES = {
    "text/csv": CSV,
    "csv": CSV,
    "application/csv": CSV,
    "application/x-parquet": PARQUET,
    "application/parquet": PARQUET,
    "application/vnd.apache.parquet": PARQUET,
    "parquet": PARQUET,
    "text/libsvm": LIBSVM,
    "text/x-libsvm": LIBSVM,
    "application/x-libsvm": LIBSVM,
    "libsvm": LIBSVM,
}


class ChannelData(NamedTuple):
    """What a channel holds: X (float32, 2-D; CSR for libsvm) and y (None when unsupervised)."""

    X: Any  # np.ndarray, or scipy.sparse.csr_matrix for text/libsvm
    y: np.ndarray | None


@dataclass(frozen=True)
class ContentType:
    """A parsed content type: its canonical media type plus the parameters that matter here."""

    media_type: str  # text/csv, application/x-parquet or text/libsvm
    header: bool = False  # text/csv only
    label_size: int | None = None  # None: not given
    params: dict[str, str] = field(default_factory=dict)

    @property
    def canonical(self) -> str:
        """The form used in `SUPPORTED` and in an algorithm's `content_types`."""
        return CSV_HEADER if self.media_type == CSV and self.header else self.media_type


def parse_content_type(value: str | None) -> ContentType:
    """Parse e.g. ``Text/CSV; header=present`` or ``text/csv;label_size=0``; None is text/csv."""
    text = "".join((value or CSV).split()).lower()
    media, *raw_params = text.split(";")
    params: dict[str, str] = {}
    for raw in raw_params:
        if not raw:
            continue
        key, _, val = raw.partition("=")
        params[key] = val.strip('"')
    canonical = _ALIASES.get(media)
    if canonical is None:
        raise _unsupported(value or "", SUPPORTED)
    header = False
    if canonical == CSV:
        header_value = params.get("header", "absent")
        if header_value not in ("present", "absent"):
            raise InvalidRequest(
                f"content type {value!r}: header must be 'present' or 'absent'",
                {"content_type": value},
            )
        header = header_value == "present"
    label_size = None
    if "label_size" in params:
        try:
            label_size = int(params["label_size"])
        except ValueError:
            label_size = -1
        if label_size not in (0, 1):
            raise InvalidRequest(
                f"content type {value!r}: label_size must be 0 (no label) or 1",
                {"content_type": value},
            )
    return ContentType(canonical, header, label_size, params)


def _unsupported(value: str, allowed: Sequence[str]) -> InvalidRequest:
    return InvalidRequest(
        f"unsupported content type {value!r}; supported: {', '.join(allowed)}",
        {"content_type": value, "supported": list(allowed)},
    )


def list_files(path: Path, *, skip_underscore: bool = False) -> list[Path]:
    """Data files under `path` (a file or a directory), recursively, sorted by relative path.

    Follows symlinks (guarding against cycles), skips hidden names (``.``-prefixed, at any
    depth), empty files and, when `skip_underscore`, ``_``-prefixed names (Spark markers).
    """
    path = Path(path)
    if not path.exists():
        if path.is_symlink():
            raise InvalidRequest(f"{path} is a broken symbolic link", {"path": str(path)})
        raise InvalidRequest(f"channel path {path} does not exist", {"path": str(path)})
    if path.is_file():
        return [path] if path.stat().st_size > 0 else []

    def skipped(name: str) -> bool:
        return name.startswith(".") or (skip_underscore and name.startswith("_"))

    found: list[Path] = []
    seen: set[str] = set()
    for root, dirs, files in os.walk(path, followlinks=True):
        real = os.path.realpath(root)
        if real in seen:  # a symlink loop or a second link to the same directory
            dirs[:] = []
            continue
        seen.add(real)
        dirs[:] = sorted(d for d in dirs if not skipped(d))
        for name in sorted(files):
            if skipped(name):
                continue
            file = Path(root) / name
            if not file.exists():
                raise InvalidRequest(f"{file} is a broken symbolic link", {"path": str(file)})
            if file.is_file() and file.stat().st_size > 0:
                found.append(file)
    return sorted(found, key=lambda f: f.relative_to(path).parts)


def read_channel(
    path: Path,
    content_type: str | None = CSV,
    *,
    supervised: bool = True,
    label: str | None = None,
    allowed: Sequence[str] | None = None,
    num_features: int | None = None,
    channel: str | None = None,
) -> ChannelData:
    """Read a channel into `ChannelData(X, y)`.

    `supervised=False` (or ``label_size=0`` in the content type) reads every column as a
    feature and returns y=None. `label` names the label column of a CSV with a header or a
    parquet file (default: the first column). `allowed` restricts the content types (those an
    algorithm declares). `num_features` is the width the data must have (e.g. the training
    channel's, when reading validation); libsvm data is widened to it.
    """
    allowed = tuple(allowed) if allowed is not None else SUPPORTED
    try:
        ctype = parse_content_type(content_type)
    except InvalidRequest as exc:
        if "unsupported" in exc.message:
            raise _unsupported(content_type or "", allowed) from None
        raise
    if ctype.canonical not in allowed:
        raise _unsupported(content_type or "", allowed)
    if ctype.label_size == 0:
        supervised = False
    where = f"channel {channel!r}" if channel else f"channel at {path}"
    files = list_files(Path(path), skip_underscore=ctype.media_type == PARQUET)
    if not files:
        raise InvalidRequest(f"{where} has no data files (in {path})", {"path": str(path)})
    if label is not None and ctype.media_type == LIBSVM:
        raise InvalidRequest("the label option needs a header; text/libsvm has none")
    if ctype.media_type == LIBSVM:
        data = _read_libsvm(files, supervised, num_features)
    else:
        if ctype.media_type == PARQUET:
            tables = [(f, _read_parquet_file(f)) for f in files]
        else:
            if label is not None and not ctype.header:
                raise InvalidRequest(
                    f"label={label!r} names a column, but text/csv has no header row (the "
                    "label is its first column); use text/csv;header=present",
                    {"label": label},
                )
            tables = [(f, _read_csv_file(f, ctype.header, supervised)) for f in files]
        data = _tables_to_arrays(
            tables, supervised, label, named=ctype.header or ctype.media_type == PARQUET
        )
    if data.X.shape[0] == 0:
        raise InvalidRequest(f"{where} has no rows (in {path})", {"path": str(path)})
    if num_features is not None and data.X.shape[1] != num_features:
        raise InvalidRequest(
            f"{where} has {data.X.shape[1]} feature columns; expected {num_features} "
            "(as many as the training data)",
            {"path": str(path), "num_features": data.X.shape[1], "expected": num_features},
        )
    return data


# --- CSV -----------------------------------------------------------------------------------

_COLUMN_RE = re.compile(r"column #(\d+)")


def _column_words(index: int, names: Sequence[str] | None, supervised: bool) -> str:
    if names is not None:
        return f"column {names[index]!r}"
    words = f"column {index + 1}"
    if supervised and index == 0:
        words += " (the label)"
    return words


def _read_csv_file(path: Path, header: bool, supervised: bool) -> Any:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    read_options = pacsv.ReadOptions(autogenerate_column_names=not header)
    parse_options = pacsv.ParseOptions(delimiter=",")
    names: list[str] | None = None
    try:
        # First pass over one block: the column names (and count), whatever their types.
        with pacsv.open_csv(path, read_options=read_options, parse_options=parse_options) as r:
            names = list(r.schema.names)
        # Then the whole file with every column forced to a number, so that inference on the
        # first block (int64, timestamp, bool ...) can never reject a later, valid row.
        types = {n: pa.float32() for n in names}
        convert = pacsv.ConvertOptions(column_types=types, quoted_strings_can_be_null=True)
        return pacsv.read_csv(
            path, read_options=read_options, parse_options=parse_options, convert_options=convert
        )
    except pa.ArrowInvalid as exc:
        message = str(exc)
        if "Empty CSV file" in message:
            return pa.table({})
        match = _COLUMN_RE.search(message)
        details: dict[str, Any] = {"file": str(path), "reason": message}
        if "conversion error" in message and match is not None:
            index = int(match.group(1))
            column = _column_words(index, names if header else None, supervised)
            value = re.search(r"invalid value '(.*)'", message)
            line = _first_bad_line(path, read_options, parse_options, names, index, header)
            details["column"] = names[index] if header and names else index + 1
            details["line"] = line
            hint = (
                ""
                if header or line not in (None, 1)
                else (
                    "; if the file starts with a header row, use content type "
                    "text/csv;header=present"
                )
            )
            raise InvalidRequest(
                f"{path}: non-numeric value {value.group(1) if value else ''!r} in {column}"
                + (f", line {line}" if line else "")
                + hint,
                details,
            ) from None
        if "Expected" in message and "columns" in message:
            raise InvalidRequest(f"{path}: ragged rows: {message}", details) from None
        raise InvalidRequest(f"{path}: cannot read as CSV: {message}", details) from None


def _first_bad_line(
    path: Path, read_options: Any, parse_options: Any, names: Any, index: int, header: bool
) -> int | None:
    """The 1-based line of the first non-numeric cell of a column (error path only)."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.csv as pacsv

    if not names:
        return None
    try:
        convert = pacsv.ConvertOptions(
            include_columns=[names[index]], column_types={names[index]: pa.string()}
        )
        table = pacsv.read_csv(
            path, read_options=read_options, parse_options=parse_options, convert_options=convert
        )
    except pa.ArrowInvalid:
        return None
    text = table.column(0).to_pandas()
    blank = text.isna() | text.str.strip().isin(["", "nan", "NaN", "NA", "N/A", "null", "NULL"])
    bad = pd.to_numeric(text, errors="coerce").isna() & ~blank
    if not bad.any():
        return None
    return int(np.argmax(bad.to_numpy())) + 1 + int(header)


# --- parquet ---------------------------------------------------------------------------------


def _read_parquet_file(path: Path) -> Any:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise InvalidRequest(
            f"{path}: cannot read as parquet: {exc}", {"file": str(path), "reason": str(exc)}
        ) from None
    for name, column_type in zip(table.schema.names, table.schema.types, strict=True):
        if not (
            pa.types.is_integer(column_type)
            or pa.types.is_floating(column_type)
            or pa.types.is_boolean(column_type)
            or pa.types.is_decimal(column_type)
            or pa.types.is_null(column_type)
        ):
            raise InvalidRequest(
                f"{path}: column {name!r} is {column_type}, not numeric",
                {"file": str(path), "column": name, "type": str(column_type)},
            )
    return table


# --- CSV and parquet tables into arrays ------------------------------------------------------


def _tables_to_arrays(
    tables: list[tuple[Path, Any]], supervised: bool, label: str | None, named: bool
) -> ChannelData:
    import pyarrow as pa

    tables = [(f, t) for f, t in tables if t.num_columns > 0]
    if not tables:
        return ChannelData(np.empty((0, 0), dtype=np.float32), None)
    first_file, first = tables[0]
    names = list(first.schema.names)
    for file, table in tables:
        duplicates = sorted({n for n in table.schema.names if table.schema.names.count(n) > 1})
        if duplicates:
            raise InvalidRequest(
                f"{file}: duplicate column names {duplicates}",
                {"file": str(file), "columns": duplicates},
            )
    for file, table in tables[1:]:
        if named and set(table.schema.names) != set(names):
            missing = sorted(set(names) - set(table.schema.names))
            extra = sorted(set(table.schema.names) - set(names))
            raise InvalidRequest(
                f"{file}: columns differ from {first_file}: missing {missing}, extra {extra}",
                {"file": str(file), "missing": missing, "extra": extra},
            )
        if not named and table.num_columns != len(names):
            raise InvalidRequest(
                f"ragged rows: {file} has {table.num_columns} columns but {first_file} has "
                f"{len(names)}",
                {"file": str(file), "columns": table.num_columns, "expected": len(names)},
            )
    label_name: str | None = None
    if supervised:
        if label is None:
            label_name = names[0]
        elif label in names:
            label_name = label
        else:
            raise InvalidRequest(
                f"label column {label!r} not found in {first_file}; columns: {', '.join(names)}",
                {"label": label, "columns": names},
            )
    feature_names = [n for n in names if n != label_name]
    rows = sum(t.num_rows for _, t in tables)
    # Column-major: each column is copied in one contiguous run (ten times faster than
    # strided writes into a row-major array); xgboost and scikit-learn take either layout.
    X = np.empty((rows, len(feature_names)), dtype=np.float32, order="F")
    y = np.empty(rows, dtype=np.float32) if label_name is not None else None
    start = 0
    for file, table in tables:
        stop = start + table.num_rows
        for j, name in enumerate(feature_names):
            _fill(X[start:stop, j], table.column(name), pa)
        if y is not None and label_name is not None:
            y[start:stop] = _column_to_numpy(table.column(label_name), pa)
            missing = int(np.isnan(y[start:stop]).sum())
            if missing:
                column = repr(label_name) if named else "1"
                raise InvalidRequest(
                    f"{file}: label column {column} is empty or not a number in {missing} row(s)",
                    {"file": str(file), "column": label_name if named else 1},
                )
        start = stop
    return ChannelData(X, y)


def _fill(target: np.ndarray, column: Any, pa: Any) -> None:
    """Copy a (chunked) Arrow column into target chunk by chunk, without joining chunks."""
    if not pa.types.is_floating(column.type):
        target[:] = _column_to_numpy(column, pa)
        return
    start = 0
    for chunk in column.chunks:
        stop = start + len(chunk)
        target[start:stop] = chunk.to_numpy(zero_copy_only=False)  # nulls become NaN
        start = stop


def _column_to_numpy(column: Any, pa: Any) -> np.ndarray:
    if not pa.types.is_floating(column.type):
        column = column.cast(pa.float64())  # ints, decimals, bools, all-null columns
    return column.to_numpy(zero_copy_only=False)  # nulls become NaN


# --- libsvm ----------------------------------------------------------------------------------


def _read_libsvm(files: Iterable[Path], supervised: bool, num_features: int | None) -> ChannelData:
    import scipy.sparse as sp
    from sklearn.datasets import load_svmlight_file

    parts = []
    for file in files:
        try:
            X, y = load_svmlight_file(str(file), dtype=np.float32, zero_based=True)
        except (ValueError, RuntimeError) as exc:
            raise InvalidRequest(
                f"{file}: cannot read as libsvm: {exc}", {"file": str(file), "reason": str(exc)}
            ) from None
        parts.append((file, X, y))
    width = max(X.shape[1] for _, X, _ in parts)
    if num_features is not None:
        if width > num_features:
            raise InvalidRequest(
                f"libsvm data uses feature index {width - 1}; expected at most {num_features - 1}",
                {"num_features": width, "expected": num_features},
            )
        width = num_features
    matrices = []
    for _, X, _ in parts:
        X = X.tocsr()
        X.resize((X.shape[0], width))
        matrices.append(X)
    X_all = sp.vstack(matrices, format="csr", dtype=np.float32)
    y_all = np.concatenate([y for _, _, y in parts]).astype(np.float32) if supervised else None
    return ChannelData(X_all, y_all)


# --- checks shared by the algorithms ---------------------------------------------------------


def check_feature_dim(feature_dim: int | None, num_features: int) -> None:
    """The `feature_dim` hyperparameter, when given, must match the training data's width."""
    if feature_dim is not None and feature_dim != num_features:
        raise InvalidRequest(
            f"feature_dim is {feature_dim} but the training data has {num_features} "
            "feature columns",
            {"feature_dim": feature_dim, "columns": num_features},
        )


def is_libsvm(content_type: str | None) -> bool:
    """Whether a channel's content type is text/libsvm (False for one that does not parse:
    the reader reports that, with the algorithm's own content types)."""
    try:
        return parse_content_type(content_type).media_type == LIBSVM
    except InvalidRequest:
        return False


# --- what was read -----------------------------------------------------------------------------


def data_bytes(X: Any) -> int:
    """Bytes held by a dense array or a scipy.sparse matrix."""
    if hasattr(X, "indptr"):
        return int(X.data.nbytes + X.indices.nbytes + X.indptr.nbytes)
    return int(np.asarray(X).nbytes)


def peak_memory_mib() -> float:
    """This process's peak resident memory so far, in MiB."""
    import resource
    import sys

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10  # bytes vs KiB


def summary(channel: str, data: ChannelData) -> str:
    """One log line on a channel just read: its shape, its size in memory, the process's peak."""
    rows, columns = data.X.shape
    size = data_bytes(data.X) + (data.y.nbytes if data.y is not None else 0)
    return (
        f"channel {channel!r}: {rows} rows x {columns} features"
        f"{', sparse' if hasattr(data.X, 'indptr') else ''}; {size / 2**20:.1f} MiB in memory, "
        f"process peak {peak_memory_mib():.0f} MiB"
    )
