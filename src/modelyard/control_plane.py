"""The composition root: everything the control plane is made of, wired once from the
settings. Services, controllers and the executor know nothing of each other's construction;
this is the one place that builds them and hands each what it needs."""

from __future__ import annotations

import logging
from collections.abc import Callable

from modelyard.api.metrics import Metrics
from modelyard.compute.executor import Executor, open_executor
from modelyard.controllers.async_invocations import AsyncInvocationController
from modelyard.controllers.endpoints import EndpointController
from modelyard.controllers.jobs import JobController, launcher_environment
from modelyard.controllers.monitoring_schedules import MonitoringScheduler
from modelyard.controllers.routing import RoutingTable
from modelyard.services import auth
from modelyard.services.async_invocations import AsyncInvocations
from modelyard.services.capture import CaptureWriter
from modelyard.services.endpoint_configs import EndpointConfigs
from modelyard.services.endpoints import Endpoints
from modelyard.services.jobs import Jobs
from modelyard.services.models import Models
from modelyard.services.monitoring_schedules import MonitoringSchedules
from modelyard.settings import Settings
from modelyard.storage import default_bucket_name, open_store
from modelyard.store import Database

logger = logging.getLogger("modelyard")


class Platform:
    def __init__(self, settings: Settings, control_url: str) -> None:
        self.settings = settings
        self.control_url = control_url.rstrip("/")
        home = settings.resolved_home
        home.mkdir(parents=True, exist_ok=True)
        self.admin_token = auth.ensure_admin_token(settings.token_path)
        self.db = Database(settings.resolved_database_url)
        self.db.migrate()
        self.storage_url = settings.resolved_storage_url
        self.store = open_store(self.storage_url)
        self.default_bucket = default_bucket_name(self.store)
        self.store.create_bucket(self.default_bucket)
        self.routes = RoutingTable(settings.max_requests_per_instance)
        self.metrics = Metrics(self)
        self.capture = CaptureWriter(self.store)
        self.jobs = Jobs(self.db, self.store, settings, self.default_bucket)
        self.job_controller = JobController(
            self.db,
            settings,
            self.control_url,
            self.storage_url,
            self.jobs,
            executor=lambda on_exit: self._executor(on_exit, warm=settings.warm_job_process),
        )
        self.jobs.wake = self.job_controller.wake
        self.jobs.flush_capture = self.capture.flush
        self.endpoint_controller = EndpointController(
            self.db,
            settings,
            self.storage_url,
            self.routes,
            executor=lambda on_exit: self._executor(on_exit, warm=False),
            on_setup=self.metrics.model_setup,
        )
        self.async_invocations = AsyncInvocations(self.db, self.store)
        self.async_controller = AsyncInvocationController(
            self.db, self.store, self.routes, self.control_url, self.admin_token
        )
        self.async_invocations.wake = self.async_controller.wake
        self.endpoint_controller.backlog = self.async_invocations.backlog
        self.models = Models(self.db, self.store)
        self.monitoring_schedules = MonitoringSchedules(self.jobs)
        self.monitoring_scheduler = MonitoringScheduler(self.monitoring_schedules)
        self.endpoint_configs = EndpointConfigs(self.db, settings.cpu_slots)
        self.endpoints = Endpoints(
            self.db,
            self.control_url,
            wake=self.endpoint_controller.wake,
            traffic=self.routes.live,
            comparisons=self.routes.comparisons,
        )

    def _executor(self, on_exit: Callable[[], None], warm: bool) -> Executor:
        jobs_dir = self.settings.resolved_home / "jobs"
        env = {**launcher_environment(), "PYTHONUNBUFFERED": "1"}
        return open_executor(
            self.settings.compute,
            self.settings.cpu_slots,
            jobs_dir,
            env,
            warm,
            on_exit,
            release_after=self.settings.job_launcher_idle_seconds,
        )

    def start(self) -> None:
        self.job_controller.start()
        self.endpoint_controller.run_once()  # re-attach surviving model servers first
        self.endpoint_controller.start()
        self.async_controller.start()
        self.monitoring_scheduler.start()
        self.capture.start()
        logger.info(
            "control plane ready at %s (home %s)", self.control_url, self.settings.resolved_home
        )

    def stop(self) -> None:
        self.monitoring_scheduler.stop()
        self.capture.stop()  # what was captured so far is written
        self.async_controller.stop()
        self.job_controller.stop()
        self.endpoint_controller.stop(stop_instances=True)
        self.db.dispose()
