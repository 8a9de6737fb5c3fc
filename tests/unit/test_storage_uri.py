"""S3 URIs and the bucket/key naming rules."""

from __future__ import annotations

import pytest

from modelyard.errors import InvalidRequest
from modelyard.storage import join_s3_uri, parse_s3_uri
from modelyard.storage.uri import is_valid_key, validate_bucket, validate_key


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("s3://bucket", ("bucket", "")),
        ("s3://bucket/", ("bucket", "")),
        ("s3://bucket/a/b", ("bucket", "a/b")),
        ("s3://my.bucket-1/data/train/", ("my.bucket-1", "data/train/")),
        ("s3://bucket/a/.hidden", ("bucket", "a/.hidden")),
    ],
)
def test_parse_s3_uri(uri: str, expected: tuple[str, str]) -> None:
    assert parse_s3_uri(uri) == expected


@pytest.mark.parametrize(
    "uri",
    [
        "",
        "bucket/key",
        "http://bucket/key",
        "s3:/bucket",
        "s3://",
        "s3:///key",
        "s3://Bad/key",
        "s3://bucket/../etc/passwd",
        "s3://bucket//abs",
        "s3://bucket/a/../b",
        "s3://bucket/a\x00",
    ],
)
def test_parse_s3_uri_rejects(uri: str) -> None:
    with pytest.raises(InvalidRequest):
        parse_s3_uri(uri)


def test_parse_s3_uri_message_says_what_is_expected() -> None:
    with pytest.raises(InvalidRequest, match="expected s3://bucket or s3://bucket/key"):
        parse_s3_uri("/local/path")


def test_join_is_the_inverse_of_parse() -> None:
    assert join_s3_uri("bucket", "a/b.csv") == "s3://bucket/a/b.csv"
    assert join_s3_uri("bucket") == "s3://bucket/"
    assert parse_s3_uri(join_s3_uri("bucket", "a/b.csv")) == ("bucket", "a/b.csv")


@pytest.mark.parametrize("name", ["abc", "a" * 63, "my.bucket", "b-1", "1bucket"])
def test_valid_bucket_names(name: str) -> None:
    assert validate_bucket(name) == name


@pytest.mark.parametrize("name", ["ab", "a" * 64, "Bucket", "b_1", "-b1", "b1-", ".b1", "b1.", ""])
def test_invalid_bucket_names_state_the_rule(name: str) -> None:
    with pytest.raises(InvalidRequest, match="lowercase letters, digits, dots and hyphens"):
        validate_bucket(name)


@pytest.mark.parametrize(
    ("key", "why"),
    [
        ("", "empty"),
        ("../etc/passwd", "'..'"),
        ("a/../b", "'..'"),
        ("./a", "'.'"),
        ("/abs", "starts with '/'"),
        ("a//b", "empty path segment"),
        ("dir/", "ends with '/'"),
        ("a\x00b", "NUL"),
        ("\u00e9" * 513, "1026 bytes"),
    ],
)
def test_invalid_keys_say_why(key: str, why: str) -> None:
    with pytest.raises(InvalidRequest, match=why):
        validate_key(key)
    assert not is_valid_key(key)


def test_valid_keys() -> None:
    for key in ["a", "a/b/c.txt", ".hidden", "a/..b", "x" * 1024, "sp ace/\u00fcml"]:
        assert validate_key(key) == key


def test_prefixes_allow_a_partial_last_segment() -> None:
    for prefix in ["", "dir/", "dir/pa", "dir/.", "dir/.."]:
        assert validate_key(prefix, prefix=True) == prefix
    for prefix in ["../", "a/../b", "/a", "a//"]:
        with pytest.raises(InvalidRequest):
            validate_key(prefix, prefix=True)
