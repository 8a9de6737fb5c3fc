"""Schedule expressions: SageMaker's cron(...), 5-field cron and rate(...)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from modelyard.errors import InvalidRequest
from modelyard.services.monitoring_schedules import Schedule

AT = datetime(2026, 12, 3, 13, 20, 5, tzinfo=UTC)  # a Thursday


def test_sagemakers_hourly_and_daily_crons() -> None:
    hourly = Schedule.parse("cron(0 * ? * * *)")
    run = hourly.next_after(AT)
    assert run == datetime(2026, 12, 3, 14, 0, tzinfo=UTC)
    assert hourly.previous(run) == datetime(2026, 12, 3, 13, 0, tzinfo=UTC)  # the last hour
    assert Schedule.parse("cron(0 6 ? * * *)").next_after(AT) == datetime(
        2026, 12, 4, 6, 0, tzinfo=UTC
    )
    # AWS counts weekdays from 1 = Sunday: 2 is Monday.
    assert Schedule.parse("cron(0 0 ? * 2 *)").next_after(AT).weekday() == 0
    assert Schedule.parse("0 */2 * * *").next_after(AT) == datetime(2026, 12, 3, 14, tzinfo=UTC)


def test_rates() -> None:
    assert Schedule.parse("rate(10 minutes)").next_after(AT) == AT + timedelta(minutes=10)
    assert Schedule.parse("rate(1 hour)").previous(AT) == AT - timedelta(hours=1)
    assert Schedule.parse("rate(2 seconds)").next_after(AT) == AT + timedelta(seconds=2)


@pytest.mark.parametrize(
    "expression",
    ["every hour", "cron(0 * ? * *)", "cron(0 * ? * * 2027)", "rate(0 minutes)", "61 * * * *"],
)
def test_bad_expressions_say_what_is_allowed(expression: str) -> None:
    with pytest.raises(InvalidRequest, match=r"cron\(0 \* \? \* \* \*\) hourly"):
        Schedule.parse(expression)
