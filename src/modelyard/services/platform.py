"""Everything the control plane is made of, wired once from the settings."""

from __future__ import annotations

import logging

from modelyard.controllers.endpoints import EndpointController
from modelyard.controllers.jobs import JobController
from modelyard.controllers.routing import RoutingTable
from modelyard.services import auth
from modelyard.services.endpoint_configs import EndpointConfigs
from modelyard.services.endpoints import Endpoints
from modelyard.services.models import Models
from modelyard.services.processing_jobs import ProcessingJobs
from modelyard.services.training_jobs import TrainingJobs
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
        self.routes = RoutingTable()
        self.job_controller = JobController(self.db, settings, self.control_url, self.storage_url)
        self.endpoint_controller = EndpointController(
            self.db, settings, self.storage_url, self.routes
        )
        self.training_jobs = TrainingJobs(
            self.db, self.store, settings, self.default_bucket, wake=self.job_controller.wake
        )
        self.processing_jobs = ProcessingJobs(
            self.db, self.store, settings, self.default_bucket, wake=self.job_controller.wake
        )
        self.models = Models(self.db, self.store)
        self.endpoint_configs = EndpointConfigs(self.db, settings.cpu_slots)
        self.endpoints = Endpoints(self.db, self.control_url, wake=self.endpoint_controller.wake)

    def start(self) -> None:
        self.job_controller.start()
        self.endpoint_controller.run_once()  # re-attach surviving model servers first
        self.endpoint_controller.start()
        logger.info(
            "control plane ready at %s (home %s)", self.control_url, self.settings.resolved_home
        )

    def stop(self) -> None:
        self.job_controller.stop()
        self.endpoint_controller.stop(stop_instances=True)
        self.db.dispose()
