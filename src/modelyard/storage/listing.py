"""S3's ListObjects paging and delimiter rules, applied to any sorted stream of keys.

Backends without a native listing API (the local one) produce keys in lexicographic order and
let `paginate` turn them into pages exactly as S3 would: keys rolled up into common prefixes
at the first delimiter after the prefix, each object or common prefix counting once toward
max_keys, and the page's last entry as the continuation token.
"""

from __future__ import annotations

from collections.abc import Iterable

from modelyard.errors import InvalidRequest

MAX_LIST_KEYS = 1000


def validate_list_args(max_keys: int, delimiter: str | None) -> None:
    if not isinstance(max_keys, int) or not 1 <= max_keys <= MAX_LIST_KEYS:
        raise InvalidRequest(f"max_keys must be between 1 and {MAX_LIST_KEYS}, got {max_keys!r}")
    if delimiter == "":
        raise InvalidRequest("delimiter must be a non-empty string or None")


def paginate(
    keys: Iterable[str],
    prefix: str,
    delimiter: str | None,
    max_keys: int,
    token: str | None,
) -> tuple[list[str], list[str], str | None]:
    """Return (keys, common_prefixes, next_token) for one page of sorted `keys`.

    Python compares str by code point, which is the same order as comparing UTF-8 bytes, so
    sorted str keys are already in S3 order. The token is the last entry of the previous page;
    when that entry was a common prefix, every key under it was already accounted for.
    """
    token_is_prefix = bool(
        token and delimiter and token.startswith(prefix) and delimiter in token[len(prefix) :]
    )
    objects: list[str] = []
    prefixes: list[str] = []
    last: str | None = None
    for key in keys:
        if not key.startswith(prefix):
            continue
        if token is not None and (key <= token or (token_is_prefix and key.startswith(token))):
            continue
        entry, is_prefix = key, False
        if delimiter:
            cut = key.find(delimiter, len(prefix))
            if cut >= 0:
                entry, is_prefix = key[: cut + len(delimiter)], True
                if entry == last:
                    continue
        if len(objects) + len(prefixes) == max_keys:
            return objects, prefixes, last  # one more entry exists, so the page is truncated
        (prefixes if is_prefix else objects).append(entry)
        last = entry
    return objects, prefixes, None
