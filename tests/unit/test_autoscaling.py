"""Target tracking: how many instances a variant asks for, pass by pass."""

from __future__ import annotations

from modelyard.controllers.autoscaling import VariantScaler

POLICY = {
    "min_capacity": 0,
    "max_capacity": 4,
    "metric": "ConcurrentRequestsPerInstance",
    "target_value": 2,
    "scale_out_cooldown": 5,
    "scale_in_cooldown": 10,
    "scale_to_zero_after_seconds": 30,
}


def test_out_by_the_metric_within_the_cooldown_and_the_maximum() -> None:
    scaler = VariantScaler(now=0)
    scaler.observe(0, in_flight=6, invocations=60, recent=6)
    assert scaler.desired(POLICY, current=1, now=0, demanded=False) == 3  # ceil(1 × 6 / 2)
    scaler.observe(1, in_flight=20, invocations=60, recent=6)
    assert scaler.desired(POLICY, current=3, now=1, demanded=False) == 3  # cooldown
    assert scaler.desired(POLICY, current=3, now=6, demanded=False) == 4  # capped at the max


def test_in_after_the_cooldown_then_to_zero_when_idle() -> None:
    scaler = VariantScaler(now=0)
    scaler.observe(0, in_flight=0, invocations=0, recent=0)
    assert scaler.desired(POLICY, current=3, now=5, demanded=False) == 1  # never scaled: ok
    assert scaler.desired(POLICY, current=1, now=10, demanded=False) == 1  # at least 1 ...
    assert scaler.desired(POLICY, current=1, now=31, demanded=False) == 0  # ... until idle


def test_a_waiting_request_brings_one_instance_and_keeps_it() -> None:
    scaler = VariantScaler(now=0)
    assert scaler.desired(POLICY, current=0, now=100, demanded=False) == 0
    assert scaler.desired(POLICY, current=0, now=100, demanded=True) == 1
    # Long after the idle time, a request still waiting for the starting instance keeps it.
    assert scaler.desired(POLICY, current=1, now=200, demanded=True) == 1


def test_invocations_and_backlog_metrics() -> None:
    scaler = VariantScaler(now=0)
    scaler.observe(0, in_flight=0, invocations=300, recent=5, backlog=7)
    per_minute = {**POLICY, "metric": "InvocationsPerInstance", "target_value": 100}
    assert scaler.desired(per_minute, current=1, now=0, demanded=False) == 3
    scaler = VariantScaler(now=0)
    scaler.observe(0, in_flight=0, invocations=0, recent=0, backlog=7)
    backlog = {**POLICY, "metric": "ApproximateBacklogSizePerInstance", "target_value": 2}
    assert scaler.desired(backlog, current=0, now=0, demanded=False) == 1  # a queue wakes it
    assert scaler.desired(backlog, current=1, now=10, demanded=False) == 4
