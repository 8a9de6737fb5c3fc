"""Batch transform's record handling: batching by payload, JSONPath filters on CSV and JSON
records, answers split per record, and SageMaker's JoinSource=Input."""

from __future__ import annotations

import json

import pytest

from modelyard.errors import InvalidRequest
from modelyard.transform_records import (
    answers,
    apply_filter,
    batches,
    check_filter,
    chunks,
    count_lines,
    format_record,
    has_blank_lines,
    join,
    parse_record,
    raw_batches,
    split_lines,
)


def test_lines_are_records_and_blank_lines_are_not() -> None:
    assert split_lines(b"1,2\n\n3,4\r\n  \n5,6") == [b"1,2", b"3,4", b"5,6"]


def test_multi_record_batches_fill_the_payload_and_remember_their_first_line() -> None:
    records = [b"aaaa"] * 7  # 5 bytes each with its newline
    planned = list(batches(records, "MultiRecord", 12))
    assert [(b.first_line, len(b.records)) for b in planned] == [(1, 2), (3, 2), (5, 2), (7, 1)]
    assert all(len(b.body) <= 12 for b in planned)
    assert [len(b.records) for b in batches(records, "MultiRecord", 0)] == [7]  # 0: no limit
    assert [b.first_line for b in batches(records, "SingleRecord", 100)] == list(range(1, 8))


def test_a_record_over_the_payload_is_an_error_naming_its_line() -> None:
    with pytest.raises(InvalidRequest, match="line 2 is 11 bytes"):
        list(batches([b"a", b"0123456789"], "MultiRecord", 8))


def test_filters_on_csv_records_select_columns_as_sagemakers_do() -> None:
    record = parse_record(b"1,0.5,abc,7", "text/csv")
    assert record == [1, 0.5, "abc", 7]
    assert apply_filter("$[1:]", record) == [0.5, "abc", 7]
    assert apply_filter("$[0,-1]", record) == [1, 7]
    assert apply_filter("$[2]", record) == "abc"
    assert format_record(apply_filter("$[1:]", record), "text/csv") == b"0.5,abc,7"


def test_filters_on_json_records_pick_fields() -> None:
    record = parse_record(b'{"id": 3, "features": [1, 2]}', "application/jsonlines")
    assert apply_filter("$.features", record) == [1, 2]
    assert format_record(apply_filter("$.features", record), "application/jsonlines") == b"[1,2]"


def test_a_bad_jsonpath_is_refused_naming_the_field() -> None:
    with pytest.raises(InvalidRequest, match="input_filter: bad JSONPath"):
        check_filter("$[[[", "input_filter")


def test_answers_are_split_per_record_from_lines_or_a_json_list() -> None:
    assert answers(b"0.1\n0.9\n", "text/csv", 2) == [b"0.1", b"0.9"]
    body = json.dumps({"predictions": [{"score": 0.1}, {"score": 0.9}]}).encode()
    assert answers(body, "application/json", 2) == [b'{"score":0.1}', b'{"score":0.9}']
    with pytest.raises(InvalidRequest, match="answered 2 records for a request of 3"):
        answers(b"0.1\n0.9\n", "text/csv", 3)


def test_join_source_input_appends_csv_answers_and_nests_json_ones() -> None:
    assert join(b"1,2,3", b"0.9", "text/csv", "text/csv") == b"1,2,3,0.9"
    joined = join(b'{"id": 1}', b'{"score":0.9}', "application/jsonlines", "application/json")
    assert json.loads(joined) == {"id": 1, "SageMakerOutput": {"score": 0.9}}
    joined = join(b"[1, 2]", b'{"score":0.9}', "application/jsonlines", "application/json")
    assert json.loads(joined) == {"SageMakerInput": [1, 2], "SageMakerOutput": {"score": 0.9}}


def test_chunks_are_whole_lines_within_the_payload_and_know_their_first_line() -> None:
    body = b"".join(b"%d,0.5\n" % i for i in range(100))
    cut = list(chunks(body, 64))
    assert b"".join(c for _, c in cut) == body
    assert all(len(c) <= 64 and c.endswith(b"\n") for _, c in cut)
    firsts = [line for line, _ in cut]
    assert firsts[0] == 1
    assert all(int(c.split(b",")[0]) + 1 == line for line, c in cut)  # line k holds row k - 1
    assert list(chunks(body, 0)) == [(1, body)]
    assert count_lines(body) == 100 and count_lines(b"1\n2") == 2
    assert has_blank_lines(b"1\n\n2\n") and not has_blank_lines(body)
    assert has_blank_lines(b"1\r\n\r\n2\r\n") and has_blank_lines(b"\r\n1\r\n")
    assert not has_blank_lines(b"1\r\n2\r\n")
    for whole in (body, body + b"100,0.5", b"", b"7"):
        planned, count = raw_batches(whole, 64)
        assert count == count_lines(whole) and b"".join(b.body for b in planned) == whole
    with pytest.raises(InvalidRequest, match="line 2 is more than MaxPayloadInMB"):
        list(chunks(b"1\n" + b"9" * 100 + b"\n", 50))
