"""Instance types: how many CPU slots a job of each type asks the local executor for."""

from __future__ import annotations

from modelyard.errors import InvalidRequest

# "local" is SageMaker local mode: the whole machine. ml.* names map to their vCPU count so
# SageMaker code runs unchanged; a request larger than the machine is capped at the machine.
_ML_SIZES = {
    "large": 2,
    "xlarge": 4,
    "2xlarge": 8,
    "4xlarge": 16,
    "8xlarge": 32,
    "9xlarge": 36,
    "12xlarge": 48,
    "16xlarge": 64,
    "18xlarge": 72,
    "24xlarge": 96,
    "medium": 1,
}


def cpus_for(instance_type: str, machine_cpus: int) -> int:
    if instance_type in ("local", "local_cpu"):
        return machine_cpus
    if instance_type.startswith("ml."):
        parts = instance_type.split(".")
        if len(parts) == 3 and parts[2] in _ML_SIZES:
            return max(1, min(_ML_SIZES[parts[2]], machine_cpus))
    if instance_type.startswith("local:"):
        count = instance_type.split(":", 1)[1]
        if count.isdigit() and int(count) >= 1:
            return min(int(count), machine_cpus)
    raise InvalidRequest(
        f"unknown instance_type {instance_type!r}: use 'local' (the whole machine), "
        "'local:N' (N CPUs) or a SageMaker name such as 'ml.m5.xlarge'",
        {"field": "instance_type", "value": instance_type},
    )


def job_cpus(instance_type: str, instance_count: int, machine_cpus: int) -> int:
    """The CPU slots a job's instances take together, at most the machine's."""
    return min(machine_cpus, cpus_for(instance_type, machine_cpus) * instance_count)
