"""Channel readers: every content type, multi-file channels, and the errors for bad data."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import scipy.sparse as sp

from modelyard.algorithms.data import (
    CSV,
    CSV_HEADER,
    LIBSVM,
    PARQUET,
    list_files,
    parse_content_type,
    read_channel,
)
from modelyard.errors import InvalidRequest


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


# --- content types ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "canonical", "label_size"),
    [
        (None, CSV, None),
        ("text/csv", CSV, None),
        ("Text/CSV; Header=Present", CSV_HEADER, None),
        ("text/csv; label_size=1", CSV, 1),
        ("text/csv;label_size=0", CSV, 0),
        ("text/csv; header=absent", CSV, None),
        ("csv", CSV, None),
        ("application/x-parquet", PARQUET, None),
        ("text/libsvm", LIBSVM, None),
        ("text/x-libsvm", LIBSVM, None),
    ],
)
def test_content_types_ignore_case_and_spaces(
    raw: str | None, canonical: str, label_size: int | None
) -> None:
    parsed = parse_content_type(raw)
    assert parsed.canonical == canonical
    assert parsed.label_size == label_size


def test_unsupported_content_type_lists_the_allowed_ones(tmp_path: Path) -> None:
    write(tmp_path / "a.csv", "1,2\n")
    with pytest.raises(InvalidRequest) as info:
        read_channel(tmp_path, "application/json", allowed=(CSV, CSV_HEADER))
    assert "application/json" in info.value.message
    assert "text/csv, text/csv;header=present" in info.value.message
    with pytest.raises(InvalidRequest, match="supported: text/csv$"):
        read_channel(tmp_path, "text/libsvm", allowed=(CSV,))  # known, but not allowed here
    with pytest.raises(InvalidRequest, match="label_size"):
        parse_content_type("text/csv;label_size=2")


# --- CSV ---------------------------------------------------------------------------------------


def test_csv_label_first_no_header(tmp_path: Path) -> None:
    write(tmp_path / "train.csv", "1,0.5,2\n0,1.5,-3e2\n")
    X, y = read_channel(tmp_path, "text/csv")
    assert X.dtype == np.float32 and (X.flags.c_contiguous or X.flags.f_contiguous)
    np.testing.assert_array_equal(X, [[0.5, 2], [1.5, -300]])
    np.testing.assert_array_equal(y, [1, 0])


def test_csv_unsupervised_reads_every_column(tmp_path: Path) -> None:
    write(tmp_path / "a.csv", "1,2,3\n4,5,6\n")
    for data in (
        read_channel(tmp_path, "text/csv;label_size=0"),
        read_channel(tmp_path, "text/csv", supervised=False),
    ):
        assert data.y is None
        assert data.X.shape == (2, 3)


def test_multi_file_channel_recursive_symlinks_hidden_and_empty(tmp_path: Path) -> None:
    channel = tmp_path / "train"
    write(channel / "part-1.csv", "1,1,1\n")
    write(channel / "nested" / "deeper" / "part-2.csv", "0,2,2\n0,3,3\n")
    write(channel / ".hidden.csv", "9,9,9\n")
    write(channel / ".cache" / "x.csv", "9,9,9\n")
    write(channel / "empty.csv", "")
    outside = write(tmp_path / "elsewhere" / "p.csv", "1,4,4\n")
    (channel / "zlink.csv").symlink_to(outside)
    (channel / "linked-dir").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    (channel / "nested" / "loop").symlink_to(channel, target_is_directory=True)  # a cycle
    files = list_files(channel)
    assert [f.relative_to(channel).as_posix() for f in files] == [
        "linked-dir/p.csv",
        "nested/deeper/part-2.csv",
        "part-1.csv",
        "zlink.csv",
    ]
    X, y = read_channel(channel, "text/csv")
    np.testing.assert_array_equal(X[:, 0], [4, 2, 3, 1, 4])
    np.testing.assert_array_equal(y, [1, 0, 0, 1, 1])


def test_a_single_file_is_a_channel_too_and_gzip_is_read(tmp_path: Path) -> None:
    path = tmp_path / "data.csv.gz"
    path.write_bytes(gzip.compress(b"1,2,3\n0,4,5\n"))
    X, y = read_channel(path, "text/csv")
    np.testing.assert_array_equal(X, [[2, 3], [4, 5]])


def test_csv_with_header_label_by_name_or_first(tmp_path: Path) -> None:
    write(tmp_path / "a.csv", "f1,target,f2\n1,0,2\n3,1,4\n")
    write(tmp_path / "b.csv", "f1,target,f2\n5,1,6\n")
    X, y = read_channel(tmp_path, "text/csv;header=present", label="target")
    np.testing.assert_array_equal(X, [[1, 2], [3, 4], [5, 6]])
    np.testing.assert_array_equal(y, [0, 1, 1])
    X, y = read_channel(tmp_path, "text/csv; header=present")
    np.testing.assert_array_equal(y, [1, 3, 5])
    with pytest.raises(InvalidRequest, match=r"label column 'nope' not found.*f1, target, f2"):
        read_channel(tmp_path, CSV_HEADER, label="nope")
    with pytest.raises(InvalidRequest, match="header=present"):
        read_channel(tmp_path, CSV, label="target")  # a name needs a header


def test_missing_cells_are_nan_features_but_a_missing_label_is_an_error(tmp_path: Path) -> None:
    write(tmp_path / "a.csv", "1,,2\n0,3,\n")
    X, y = read_channel(tmp_path, CSV)
    assert np.isnan(X[0, 0]) and np.isnan(X[1, 1]) and X[0, 1] == 2
    write(tmp_path / "b.csv", ",1,2\n")
    with pytest.raises(InvalidRequest, match=r"b\.csv: label column 1 is empty"):
        read_channel(tmp_path, CSV)


def test_non_numeric_cell_names_file_column_and_line(tmp_path: Path) -> None:
    write(tmp_path / "ok.csv", "1,2,3\n")
    bad = write(tmp_path / "zz.csv", "1,2,3\n0,4,5\n1,abc,6\n")
    with pytest.raises(InvalidRequest) as info:
        read_channel(tmp_path, CSV)
    message = info.value.message
    assert str(bad) in message and "'abc'" in message and "column 2" in message
    assert "line 3" in message and "header" not in message
    assert info.value.details["column"] == 2 and info.value.details["line"] == 3

    write(tmp_path / "h" / "a.csv", "label,2\n1,2\n")  # only the label cell is text
    with pytest.raises(InvalidRequest, match=r"column 1 \(the label\), line 1.*header=present"):
        read_channel(tmp_path / "h", CSV)
    write(tmp_path / "n" / "a.csv", "y,x\n1,2\n0,oops\n")
    with pytest.raises(InvalidRequest, match=r"'oops' in column 'x', line 3"):
        read_channel(tmp_path / "n", CSV_HEADER)


def test_ragged_rows_in_a_file_and_across_files(tmp_path: Path) -> None:
    write(tmp_path / "a" / "x.csv", "1,2,3\n1,2\n")
    with pytest.raises(InvalidRequest, match=r"x\.csv: ragged rows"):
        read_channel(tmp_path / "a", CSV)
    write(tmp_path / "b" / "x.csv", "1,2,3\n")
    write(tmp_path / "b" / "y.csv", "1,2,3,4\n")
    with pytest.raises(InvalidRequest, match=r"ragged rows: .*y\.csv has 4 columns"):
        read_channel(tmp_path / "b", CSV)
    write(tmp_path / "c" / "x.csv", "y,a\n1,2\n")
    write(tmp_path / "c" / "y.csv", "y,b\n1,2\n")
    with pytest.raises(InvalidRequest, match=r"columns differ.*missing \['a'\], extra \['b'\]"):
        read_channel(tmp_path / "c", CSV_HEADER)


def test_a_late_float_after_a_block_of_integers_is_fine(tmp_path: Path) -> None:
    # pyarrow infers types from the first block (1 MiB): all ints there must not make a float
    # further down a "conversion error".
    rows = 200_000
    lines = "\n".join(f"{i % 2},{i}" for i in range(rows)) + "\n1,0.5\n"
    write(tmp_path / "big.csv", lines)
    X, y = read_channel(tmp_path, CSV)
    assert X.shape == (rows + 1, 1) and X[-1, 0] == 0.5


def test_empty_channels(tmp_path: Path) -> None:
    (tmp_path / "none").mkdir()
    with pytest.raises(InvalidRequest, match="no data files"):
        read_channel(tmp_path / "none", CSV, channel="train")
    write(tmp_path / "hidden" / ".x.csv", "1,2\n")
    write(tmp_path / "hidden" / "empty.csv", "")
    with pytest.raises(InvalidRequest, match="channel 'train' has no data files"):
        read_channel(tmp_path / "hidden", CSV, channel="train")
    write(tmp_path / "header-only" / "a.csv", "y,x\n")
    with pytest.raises(InvalidRequest, match="no rows"):
        read_channel(tmp_path / "header-only", CSV_HEADER)
    with pytest.raises(InvalidRequest, match="does not exist"):
        read_channel(tmp_path / "missing", CSV)
    (tmp_path / "dangling").mkdir()
    (tmp_path / "dangling" / "a.csv").symlink_to(tmp_path / "gone.csv")
    with pytest.raises(InvalidRequest, match="broken symbolic link"):
        read_channel(tmp_path / "dangling", CSV)


def test_width_must_match_the_training_data(tmp_path: Path) -> None:
    write(tmp_path / "a.csv", "1,2,3\n")
    with pytest.raises(InvalidRequest, match="2 feature columns; expected 3"):
        read_channel(tmp_path, CSV, num_features=3, channel="validation")


# --- parquet -------------------------------------------------------------------------------


def test_parquet_label_rule_types_and_multiple_files(tmp_path: Path) -> None:
    pq.write_table(
        pa.table({"y": [1, 0], "a": [0.5, None], "b": pa.array([True, False])}),
        tmp_path / "part-0.parquet",
    )
    pq.write_table(
        pa.table({"y": [1], "a": [2.0], "b": pa.array([True])}), tmp_path / "part-1.parquet"
    )
    write(tmp_path / "_SUCCESS", "spark marker")
    X, y = read_channel(tmp_path, "application/x-parquet")
    np.testing.assert_array_equal(y, [1, 0, 1])
    assert X.dtype == np.float32 and np.isnan(X[1, 0])
    np.testing.assert_array_equal(X[:, 1], [1, 0, 1])
    X, y = read_channel(tmp_path, PARQUET, label="b")
    np.testing.assert_array_equal(y, [1, 0, 1])
    np.testing.assert_array_equal(X[:, 0], [1, 0, 1])  # the y column is now a feature


def test_parquet_errors(tmp_path: Path) -> None:
    pq.write_table(pa.table({"y": [1, 0], "a": [0.5, None]}), tmp_path / "p.parquet")
    with pytest.raises(InvalidRequest, match="label column 'a' is empty"):
        read_channel(tmp_path, PARQUET, label="a")
    X, y = read_channel(tmp_path, PARQUET, label="y")
    assert X.shape == (2, 1)
    pq.write_table(pa.table({"y": [1], "name": ["x"]}), tmp_path / "q.parquet")
    with pytest.raises(InvalidRequest, match=r"q\.parquet: column 'name' is string, not numeric"):
        read_channel(tmp_path, PARQUET)
    write(tmp_path / "r" / "not.parquet", "1,2,3\n")
    with pytest.raises(InvalidRequest, match="cannot read as parquet"):
        read_channel(tmp_path / "r", PARQUET)


# --- libsvm --------------------------------------------------------------------------------


def test_libsvm_sparse_multi_file_and_width(tmp_path: Path) -> None:
    write(tmp_path / "a.libsvm", "1 0:1.5 3:2\n0 1:1\n")
    write(tmp_path / "b.libsvm", "1 5:7\n")
    X, y = read_channel(tmp_path, "text/libsvm")
    assert sp.issparse(X) and X.dtype == np.float32
    assert X.shape == (3, 6)  # indices as written: index 5 is the sixth column
    np.testing.assert_array_equal(X.toarray()[0], [1.5, 0, 0, 2, 0, 0])
    np.testing.assert_array_equal(y, [1, 0, 1])
    X, _ = read_channel(tmp_path, LIBSVM, num_features=10)
    assert X.shape == (3, 10)
    with pytest.raises(InvalidRequest, match="feature index 5; expected at most 3"):
        read_channel(tmp_path, LIBSVM, num_features=4)
    X, y = read_channel(tmp_path, "text/libsvm;label_size=0")
    assert y is None
    write(tmp_path / "c.libsvm", "1,2,3\n")
    with pytest.raises(InvalidRequest, match=r"c\.libsvm: cannot read as libsvm"):
        read_channel(tmp_path, LIBSVM)
