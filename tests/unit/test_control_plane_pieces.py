"""Pure pieces of the control plane: names, page tokens, instance types, routing, ranges."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from modelyard.api.routers.objects import parse_range
from modelyard.compute.instance_types import cpus_for
from modelyard.controllers.routing import RoutingTable, VariantRoute
from modelyard.errors import InvalidRequest, RangeNotSatisfiable
from modelyard.names import unique_name, validate_name
from modelyard.services.pagination import decode_token, encode_token
from modelyard.settings import Settings


@pytest.mark.parametrize("name", ["a", "job-1", "A1-b2-C3", "x" * 63])
def test_valid_names(name: str) -> None:
    assert validate_name(name) == name


@pytest.mark.parametrize("name", ["", "-a", "a-", "a_b", "a b", "x" * 64, "naïve", "a.b"])
def test_invalid_names_say_the_rule(name: str) -> None:
    with pytest.raises(InvalidRequest, match="name"):
        validate_name(name, "training job name")


def test_unique_names_fit_and_are_valid() -> None:
    name = unique_name("a-very-long-base-name-" * 5)
    assert len(name) <= 63 and validate_name(name) == name
    assert unique_name("my_algo").startswith("my-algo-")


def test_page_tokens_round_trip_and_reject_forgeries() -> None:
    assert decode_token(encode_token(42)) == 42
    for bad in ("garbage", "aWQ6eHl6", ""):
        with pytest.raises(InvalidRequest, match="next_token"):
            decode_token(bad)


def test_instance_types() -> None:
    assert cpus_for("local", 8) == 8
    assert cpus_for("local:2", 8) == 2
    assert cpus_for("ml.m5.xlarge", 8) == 4
    assert cpus_for("ml.m5.24xlarge", 8) == 8  # capped at the machine
    with pytest.raises(InvalidRequest, match="local"):
        cpus_for("gpu-monster", 8)


def test_routing_rotates_idle_instances_and_knows_warming_endpoints() -> None:
    table = RoutingTable()
    table.replace({"e": [VariantRoute("v", 1.0, [("a", 1), ("b", 2)])]}, {"e", "f"}, {"f"})
    picks = [table.pick("e") for _ in range(4)]
    assert [p.address for p in picks if p] == [("b", 2), ("a", 1)] * 2  # one pick per request
    assert table.pick("f") is None and table.warming("f") and table.knows("f")
    assert table.pick("nope") is None and not table.knows("nope")


def test_routing_prefers_the_least_busy_healthy_instance_and_keeps_counts() -> None:
    table = RoutingTable()
    table.replace({"e": [VariantRoute("v", 1.0, [("a", 1), ("b", 2), ("c", 3)])]}, {"e"})
    a, b, c = table.instances("e")
    a.outstanding, b.outstanding, c.outstanding = 3, 1, 2
    assert table.pick("e") is b
    b.healthy = False
    assert table.pick("e") is c
    assert table.pick("e", exclude=[c]) is a  # a retry never goes back to one it tried
    assert table.pick("e", exclude=[a, c]) is None
    table.replace({"e": [VariantRoute("v", 1.0, [("a", 1), ("c", 3)])]}, {"e"})
    assert table.instances("e") == [a, c] and a.outstanding == 3  # same objects, same counts


def test_routing_splits_by_weight_and_honours_a_target_variant() -> None:
    table = RoutingTable()
    table.replace(
        {"e": [VariantRoute("big", 3.0, [("a", 1)]), VariantRoute("small", 1.0, [("b", 2)])]},
        {"e"},
    )
    random.seed(7)
    counts = Counter(table.pick("e").variant for _ in range(4000))  # type: ignore[union-attr]
    assert 0.70 < counts["big"] / 4000 < 0.80, counts
    assert {table.pick("e", "small").variant for _ in range(20)} == {"small"}  # type: ignore[union-attr]
    assert table.pick("e", "nope") is None
    table.instances("e")[1].healthy = False  # small has no healthy instance: big takes all
    assert {table.pick("e").variant for _ in range(50)} == {"big"}  # type: ignore[union-attr]
    table.replace(
        {"e": [VariantRoute("big", 0.0, [("a", 1)]), VariantRoute("small", 1.0, [("b", 2)])]},
        {"e"},
    )
    assert table.instances("e")[1].healthy is False  # health survives a table rebuild
    assert table.pick("e") is None  # weight 0 takes no traffic; the other is unhealthy


def test_routing_keeps_a_target_model_to_its_instance_until_it_is_much_busier() -> None:
    from modelyard.controllers.routing import AFFINITY_SLACK

    table = RoutingTable()
    table.replace({"e": [VariantRoute("v", 1.0, [("a", 1), ("b", 2), ("c", 3)])]}, {"e"})
    homes = {model: {table.pick("e", model=model) for _ in range(5)} for model in "pqrstuvw"}
    assert all(len(home) == 1 for home in homes.values())  # idle: always the same one
    assert len({next(iter(home)) for home in homes.values()}) > 1  # models spread out
    home = next(iter(homes["p"]))
    assert home is not None
    home.outstanding = AFFINITY_SLACK  # busier, within the slack: still its home
    assert table.pick("e", model="p") is home
    home.outstanding = AFFINITY_SLACK + 1  # too busy: the least busy other instance
    assert table.pick("e", model="p") not in (home, None)
    home.outstanding, home.healthy = 0, False
    assert table.pick("e", model="p") not in (home, None)
    assert table.pick("e", model="p", exclude=table.instances("e")) is None


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=0-9", (0, 9)),
        ("bytes=5-", (5, 99)),
        ("bytes=-10", (90, 99)),
        ("bytes=90-200", (90, 99)),
    ],
)
def test_ranges(header: str, expected: tuple[int, int]) -> None:
    assert parse_range(header, 100) == expected


def test_bad_ranges() -> None:
    with pytest.raises(RangeNotSatisfiable):
        parse_range("bytes=100-", 100)
    with pytest.raises(InvalidRequest):
        parse_range("bytes=0-1,5-6", 100)
    with pytest.raises(InvalidRequest):
        parse_range("items=0-1", 100)


def test_settings_defaults_and_environment(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    for key in (
        "MODELYARD_HOME",
        "MODELYARD_URL",
        "MODELYARD_PORT",
        "MODELYARD_DATABASE_URL",
        "MODELYARD_STORAGE_URL",
    ):
        monkeypatch.delenv(key, raising=False)
    settings = Settings()
    assert settings.resolved_url == "http://127.0.0.1:8642"
    assert settings.resolved_home.name == ".modelyard"
    monkeypatch.setenv("MODELYARD_HOME", str(tmp_path))
    monkeypatch.setenv("MODELYARD_PORT", "9000")
    settings = Settings()
    assert settings.resolved_database_url == f"sqlite:///{tmp_path}/modelyard.db"
    assert settings.resolved_storage_url == str(tmp_path / "objects")
    assert settings.resolved_url == "http://127.0.0.1:9000"
