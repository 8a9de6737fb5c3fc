"""The steps of an endpoint update, and how a deployment moves through them."""

from __future__ import annotations

import pytest

from modelyard.schemas.endpoints import DeploymentConfig
from modelyard.services.deployments import Deployment, plan


def config(**raw: object) -> DeploymentConfig:
    return DeploymentConfig.model_validate(raw)


def shares(deployment_config: DeploymentConfig | None, total: int) -> list[float]:
    return [step["share"] for step in plan(deployment_config, total)]


def test_blue_green_plans() -> None:
    assert shares(None, 4) == [1.0]
    canary = {"type": "CANARY", "canary_size": {"type": "INSTANCE_COUNT", "value": 1}}
    assert shares(
        config(blue_green_update_policy={"traffic_routing_configuration": canary}), 4
    ) == [
        0.25,
        1.0,
    ]
    linear = {"type": "LINEAR", "linear_step_size": {"type": "CAPACITY_PERCENT", "value": 40}}
    steps = plan(config(blue_green_update_policy={"traffic_routing_configuration": linear}), 5)
    assert [s["share"] for s in steps] == [0.4, 0.8, 1.0]
    assert all(s["new"] == 1.0 and s["old"] == 1.0 for s in steps)  # blue stays up till the end


def test_rolling_plan_replaces_a_batch_per_step() -> None:
    rolling = {
        "maximum_batch_size": {"type": "INSTANCE_COUNT", "value": 2},
        "wait_interval_in_seconds": 0,
    }
    steps = plan(config(rolling_update_policy=rolling), 5)
    assert [(s["new"], s["old"]) for s in steps] == [(0.4, 0.6), (0.8, 0.2), (1.0, 0.0)]


def test_a_deployment_bakes_each_step_then_waits_before_it_stops_the_old_fleet() -> None:
    canary = {"type": "CANARY", "canary_size": {"type": "INSTANCE_COUNT", "value": 1},
              "wait_interval_in_seconds": 10}  # fmt: skip
    policy = config(
        blue_green_update_policy={
            "traffic_routing_configuration": canary,
            "termination_wait_in_seconds": 5,
        }
    )
    variants = [{"variant_name": "v", "current_weight": 1, "desired_weight": 1,
                 "desired_instance_count": 2}]  # fmt: skip
    d = Deployment.start("new", variants, policy, now=0)
    assert (d.phase, d.share, d.old_fraction()) == ("Provisioning", 0.0, 1.0)
    assert d.advance(1, new_ready=False, old_settled=True, alarm=None) is None
    assert d.phase == "Provisioning"  # nothing shifts before the new fleet serves
    d.advance(2, new_ready=True, old_settled=True, alarm=None)
    assert (d.phase, d.share) == ("Baking", 0.5)
    d.advance(11, new_ready=True, old_settled=True, alarm=None)
    assert (d.phase, d.share) == ("Baking", 0.5)  # 10 s of baking from t=2
    d.advance(12, new_ready=True, old_settled=True, alarm=None)
    assert (d.phase, d.share) == ("Baking", 1.0)
    d.advance(22, new_ready=True, old_settled=True, alarm=None)
    assert d.phase == "Terminating" and d.old_fraction() == 1.0
    d.advance(27, new_ready=True, old_settled=True, alarm=None)
    assert d.old_fraction() == 0.0  # the termination wait is over: stop the old fleet
    assert d.advance(28, new_ready=True, old_settled=True, alarm=None) == "Completed"


@pytest.mark.parametrize(
    ("alarm", "failure", "now", "reason"),
    [
        ("errors (Sum 3 > 0)", None, 5, "rolled back: alarm errors (Sum 3 > 0) fired"),
        (None, "a new instance failed", 5, "rolled back: a new instance failed"),
        (None, None, 4000, "rolled back: the update took over 3600s"),
    ],
)
def test_alarms_failures_and_timeouts_roll_back(
    alarm: str | None, failure: str | None, now: float, reason: str
) -> None:
    policy = config(blue_green_update_policy={})
    variants = [{"variant_name": "v", "current_weight": 1, "desired_weight": 1,
                 "desired_instance_count": 1}]  # fmt: skip
    d = Deployment.start("new", variants, policy, now=0)
    d.advance(1, new_ready=True, old_settled=True, alarm=None)
    d.advance(now, new_ready=True, old_settled=True, alarm=alarm, failure=failure)
    assert d.rolling_back and d.share == 0.0 and d.new_fraction() == 0.0
    assert d.state["failure_reason"] == reason
    assert d.advance(now + 1, new_ready=False, old_settled=True, alarm=None) is None
    assert d.advance(now + 2, new_ready=True, old_settled=True, alarm=None) == "RolledBack"
