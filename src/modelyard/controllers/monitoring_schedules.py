"""The monitoring scheduler: each second, the monitoring jobs of schedules whose time came."""

from __future__ import annotations

from modelyard.controllers.loop import ControlLoop
from modelyard.services.monitoring_schedules import MonitoringSchedules


class MonitoringScheduler(ControlLoop):
    name = "monitoring-scheduler"
    interval = 1.0

    def __init__(self, schedules: MonitoringSchedules) -> None:
        super().__init__()
        self.schedules = schedules

    def tick(self) -> None:
        for name in self.schedules.run_due():
            self._logger.info("monitoring job %s started", name)

    def start(self) -> None:
        self.start_loop()

    def stop(self) -> None:
        self.stop_loop()
