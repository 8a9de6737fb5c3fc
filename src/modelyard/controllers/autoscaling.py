"""Target tracking for endpoint variants, in the shape of SageMaker's Application Auto Scaling.

A variant's scaling policy names a metric and a target value for it: requests in flight per
instance (sampled every reconciler pass, averaged over the last CONCURRENCY_WINDOW seconds) or
invocations per instance over the last minute. Each pass asks for
`ceil(instances × metric / target)` instances within [min, max]: out no sooner than the
scale-out cooldown after the last scale-out, in no sooner than the scale-in cooldown after
any change. With a minimum of 0 the variant is released after `scale_to_zero_after_seconds`
without a request, and a request to an endpoint at zero asks for an instance at once (the
proxy holds it until one answers, and asks again each pass meanwhile: a variant with requests
waiting is never scaled in).
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any

CONCURRENCY_WINDOW = 10.0


class VariantScaler:
    """What one variant's autoscaling remembers between passes (in memory: after a restart
    it goes on from the instance count in the database)."""

    def __init__(self, now: float) -> None:
        self.samples: deque[tuple[float, int]] = deque()  # (time, requests in flight)
        self.invocations = 0  # in the last minute
        self.backlog = 0  # asynchronous requests queued or in progress
        self.last_scale_out = -math.inf
        self.last_change = -math.inf
        self.last_request = now

    def observe(
        self, now: float, in_flight: int, invocations: int, recent: int, backlog: int = 0
    ) -> None:
        """One pass's sample: requests in flight now, invocations in the last minute and in
        the last few seconds, asynchronous requests waiting."""
        self.samples.append((now, in_flight))
        while self.samples and self.samples[0][0] < now - CONCURRENCY_WINDOW:
            self.samples.popleft()
        self.invocations = invocations
        self.backlog = backlog
        if in_flight or recent or backlog:
            self.last_request = now

    def metric(self, policy: dict[str, Any], instances: int) -> float:
        if policy["metric"] == "InvocationsPerInstance":
            total = float(self.invocations)
        elif policy["metric"] == "ApproximateBacklogSizePerInstance":
            total = float(self.backlog)
        elif self.samples:
            total = sum(s for _, s in self.samples) / len(self.samples)
        else:
            total = 0.0
        return total / max(instances, 1)

    def desired(self, policy: dict[str, Any], current: int, now: float, demanded: bool) -> int:
        """The instance count the variant should run from now on."""
        low, high = int(policy["min_capacity"]), int(policy["max_capacity"])
        if demanded:
            self.last_request = now
        if current == 0:
            if demanded or low > 0 or self.backlog:
                self.last_scale_out = self.last_change = now
                return max(low, 1)
            return 0
        want = math.ceil(current * self.metric(policy, current) / float(policy["target_value"]))
        want = max(low, min(high, max(want, 1)))
        if want > current:
            if now - self.last_scale_out < float(policy["scale_out_cooldown"]):
                return current
            self.last_scale_out = self.last_change = now
            return want
        if low == 0 and now - self.last_request >= float(policy["scale_to_zero_after_seconds"]):
            self.last_change = now
            return 0
        if want < current and now - self.last_change >= float(policy["scale_in_cooldown"]):
            self.last_change = now
            return want
        return current
