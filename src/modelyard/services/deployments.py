"""An endpoint update (SageMaker's UpdateEndpoint with a DeploymentConfig) as a list of steps.

Each step says how many of the new fleet's instances run, what share of traffic the new
fleet gets once they serve, and how many of the old fleet's instances remain after the step
has baked. Blue/green keeps the whole old fleet until the end: ALL_AT_ONCE is one step of
100%, CANARY a canary share and then 100%, LINEAR equal steps; a rolling update adds a batch
of new instances, shifts their share of traffic, and removes a batch of old ones, per step.

The reconciler drives a `Deployment` every pass: it reports whether the step's new instances
serve, whether an alarm fires and whether the old instances it removed are gone, and reads
back the instance counts and the traffic share to apply. Its state is plain JSON on the
endpoint row, so an update goes on after a server restart.
"""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime
from typing import Any

from modelyard.schemas.endpoints import CapacitySize, DeploymentConfig

# Phases, as the endpoint's description shows them.
PROVISIONING, BAKING, TERMINATING, ROLLING_BACK = (
    "Provisioning",
    "Baking",
    "Terminating",
    "RollingBack",
)


def _size(size: CapacitySize | None, total: int) -> int:
    """Instances a CapacitySize stands for (at least one, at most all)."""
    if size is None:
        return total
    count = size.value if size.type == "INSTANCE_COUNT" else math.ceil(total * size.value / 100)
    return max(1, min(total, count))


def plan(config: DeploymentConfig | None, new_total: int) -> list[dict[str, float]]:
    """The steps: `new` and `old` are fractions of each fleet's instances, `share` the new
    fleet's share of traffic."""
    rolling = config.rolling_update_policy if config else None
    if rolling is not None:
        batch = _size(rolling.maximum_batch_size, new_total)
        steps, up = [], 0
        while up < new_total:
            up = min(new_total, up + batch)
            fraction = up / new_total
            steps.append({"new": fraction, "share": fraction, "old": (new_total - up) / new_total})
        return steps
    blue_green = config.blue_green_update_policy if config else None
    routing = blue_green.traffic_routing_configuration if blue_green else None
    if routing is None or routing.type == "ALL_AT_ONCE":
        shares = [1.0]
    elif routing.type == "CANARY":
        shares = [_size(routing.canary_size, new_total) / new_total, 1.0]
        shares = sorted(set(shares))
    else:
        step = _size(routing.linear_step_size, new_total) / new_total
        shares = [min(1.0, step * k) for k in range(1, math.ceil(1 / step) + 1)]
    return [{"new": 1.0, "share": share, "old": 1.0} for share in shares]


def _now_iso() -> str:
    return datetime.now(UTC).isoformat()


class Deployment:
    """The update in progress on one endpoint (its `deployment` JSON, changed in place)."""

    def __init__(self, state: dict[str, Any]) -> None:
        self.state = state

    @classmethod
    def start(
        cls,
        config_name: str,
        variants: list[dict[str, Any]],
        config: DeploymentConfig | None,
        now: float | None = None,
    ) -> Deployment:
        total = sum(int(v["desired_instance_count"]) for v in variants)
        deployment = cls(
            {
                "config": config_name,
                "variants": variants,
                "deployment_config": config.model_dump() if config else None,
                "steps": plan(config, total),
                "step": 0,
                "share": 0.0,
                "status": "InProgress",
                "started": time.time() if now is None else now,
                "phase_started": time.time() if now is None else now,
                "phases": [],
                "failure_reason": None,
            }
        )
        deployment._enter(PROVISIONING, "starting the new fleet's instances")
        return deployment

    # -- what the reconciler applies ---------------------------------------------------------
    @property
    def config(self) -> DeploymentConfig | None:
        raw = self.state.get("deployment_config")
        return DeploymentConfig.model_validate(raw) if raw else None

    @property
    def phase(self) -> str:
        return str(self.state["phases"][-1]["phase"])

    @property
    def share(self) -> float:
        return float(self.state["share"])

    @property
    def rolling_back(self) -> bool:
        return self.phase == ROLLING_BACK

    def new_fraction(self) -> float:
        if self.rolling_back:
            return 0.0
        return float(self._step()["new"])

    def old_fraction(self) -> float:
        """Old instances kept: all, until a step's bake is over (and until the end, for
        blue/green)."""
        if self.rolling_back:
            return 1.0
        if self.phase == TERMINATING and self.state.get("terminate"):
            return 0.0
        step = self.state["step"]
        done = step - 1 if self.phase in (PROVISIONING, BAKING) else step
        return float(self.state["steps"][done]["old"]) if done >= 0 else 1.0

    def alarms(self) -> list[dict[str, Any]]:
        config = self.config
        rollback = config.auto_rollback_configuration if config else None
        return [a.model_dump() for a in rollback.alarms] if rollback else []

    @property
    def shifted_at(self) -> float | None:
        """When the new fleet first got traffic (alarms look at no earlier answers)."""
        return self.state.get("shifted_at")

    # -- what the reconciler reports -------------------------------------------------------
    def advance(
        self,
        now: float,
        new_ready: bool,
        old_settled: bool,
        alarm: str | None,
        failure: str | None = None,
    ) -> str | None:
        """Move on as far as the facts allow; returns "Completed" or "RolledBack" when the
        update has ended. `new_ready`: every new instance the step asks for serves;
        `old_settled`: the old fleet has exactly the instances asked for, all serving (none
        left draining); `failure`: a new instance cannot start."""
        if self.rolling_back:
            if new_ready and old_settled:  # new fleet gone, old one whole
                return self._end("RolledBack")
            return None
        timeout = self._timeout()
        if failure or alarm or (timeout and now - self.state["started"] > timeout):
            reason = failure or (
                f"alarm {alarm} fired" if alarm else f"the update took over {timeout}s"
            )
            self._roll_back(reason)
            return None
        wait = self._wait()
        phase = self.phase
        if phase == PROVISIONING and new_ready:
            self._shift(now)
        elif phase == BAKING and now - self.state["phase_started"] >= wait and old_settled:
            if self.state["step"] + 1 < len(self.state["steps"]):
                before = self._step()["new"]
                self.state["step"] += 1
                if self._step()["new"] == before:  # blue/green: the whole fleet is up already
                    self._shift(now)
                else:
                    self._enter(PROVISIONING, "the next batch of new instances", now)
            else:
                self._enter(TERMINATING, "the old fleet stays up for the termination wait", now)
        elif phase == TERMINATING:
            if not self.state.get("terminate"):
                if now - self.state["phase_started"] >= self._termination_wait():
                    self.state["terminate"] = True
            elif old_settled:
                return self._end("Completed")
        return None

    # -- state ------------------------------------------------------------------------------
    def _shift(self, now: float) -> None:
        self.state["share"] = float(self._step()["share"])
        if not self.state.get("shifted_at"):
            self.state["shifted_at"] = now
        self._enter(BAKING, f"{self.share:.0%} of traffic to the new fleet", now)

    def _step(self) -> dict[str, float]:
        return self.state["steps"][min(self.state["step"], len(self.state["steps"]) - 1)]

    def _wait(self) -> float:
        config = self.config
        if config and config.rolling_update_policy:
            return config.rolling_update_policy.wait_interval_in_seconds
        blue_green = config.blue_green_update_policy if config else None
        if blue_green is None:
            return 0
        return blue_green.traffic_routing_configuration.wait_interval_in_seconds

    def _termination_wait(self) -> float:
        config = self.config
        blue_green = config.blue_green_update_policy if config else None
        return blue_green.termination_wait_in_seconds if blue_green else 0

    def _timeout(self) -> int | None:
        config = self.config
        policy = config and (config.blue_green_update_policy or config.rolling_update_policy)
        return policy.maximum_execution_timeout_in_seconds if policy else None

    def _enter(self, phase: str, message: str, now: float | None = None) -> None:
        stamp = _now_iso()
        phases = self.state["phases"]
        if phases and phases[-1]["ended_at"] is None:
            phases[-1]["ended_at"] = stamp
        phases.append({"phase": phase, "message": message, "started_at": stamp, "ended_at": None})
        self.state["phase_started"] = time.time() if now is None else now

    def _roll_back(self, reason: str) -> None:
        self.state["failure_reason"] = f"rolled back: {reason}"
        self.state["share"] = 0.0
        self._enter(ROLLING_BACK, reason)

    def _end(self, status: str) -> str:
        self.state["status"] = status
        phases = self.state["phases"]
        if phases and phases[-1]["ended_at"] is None:
            phases[-1]["ended_at"] = _now_iso()
        if status == "Completed":
            self.state["share"] = 1.0
        return status
