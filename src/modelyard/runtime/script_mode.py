"""Script mode: run the user's entry point exactly as SageMaker's training toolkit runs it.

The toolkit's contract, followed here: hyperparameters are JSON-decoded where they parse, the
`sagemaker_*` ones are framework parameters, the rest become `--name value` arguments sorted by
name (a dict as `k1=v1,k2=v2`); every `SM_*` variable describes the job's directories, channels,
hosts and hyperparameters; a `.py` entry point runs as `python script args`, a shell script
through `/bin/sh`; exit code 0 means success.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import tarfile
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from modelyard.runtime.checkpoints import checkpoint_sync
from modelyard.runtime.layout import JobLayout
from modelyard.runtime.requirements import RequirementsFailed, environment_for

FRAMEWORK_PREFIX = "sagemaker_"
TAIL_LINES = 40


class ScriptFailed(Exception):
    """The user's script exited non-zero; the message is SageMaker-shaped."""


def decode(value: str) -> Any:
    try:
        return json.loads(value)
    except (TypeError, ValueError):
        return value


def split_hyperparameters(raw: dict[str, str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(user hyperparameters, framework parameters), values JSON-decoded where they parse."""
    user, framework = {}, {}
    for name, value in raw.items():
        (framework if name.startswith(FRAMEWORK_PREFIX) else user)[name] = decode(value)
    return user, framework


def to_cmd_args(hyperparameters: dict[str, Any]) -> list[str]:
    args: list[str] = []
    for name in sorted(hyperparameters):
        value = hyperparameters[name]
        args.append(f"--{name}" if len(name) > 1 else f"-{name}")
        if isinstance(value, dict):
            args.append(",".join(f"{k}={v}" for k, v in sorted(value.items())))
        else:
            args.append(str(value))
    return args


def env_value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def sm_environment(
    layout: JobLayout,
    spec: dict[str, Any],
    channels: dict[str, Path],
    user: dict[str, Any],
    framework: dict[str, Any],
    code_dir: Path,
) -> dict[str, str]:
    script = spec["script"]
    entry_point = script["entry_point"]
    hosts = spec["hosts"]
    config = layout.config_dir
    input_data_config = json.loads((config / "inputdataconfig.json").read_text())
    resource_config = json.loads((config / "resourceconfig.json").read_text())
    training_env: dict[str, Any] = {
        "additional_framework_parameters": framework,
        "channel_input_dirs": {name: str(path) for name, path in channels.items()},
        "current_host": spec["current_host"],
        "current_instance_type": spec["instance_type"],
        "framework_module": "modelyard.runtime.script_mode",
        "hosts": hosts,
        "hyperparameters": user,
        "input_config_dir": str(config),
        "input_data_config": input_data_config,
        "input_dir": str(layout.root / "input"),
        "is_master": spec["current_host"] == hosts[0],
        "job_name": spec["name"],
        "log_level": 20,
        "master_hostname": hosts[0],
        "model_dir": str(layout.model_dir),
        "module_dir": script["source_dir"],
        "module_name": PurePosixPath(entry_point).stem,
        "network_interface_name": "lo",
        "num_cpus": int(spec["num_cpus"]),
        "num_gpus": 0,
        "num_neurons": 0,
        "output_data_dir": str(layout.output_data_dir),
        "output_dir": str(layout.output_dir),
        "output_intermediate_dir": str(layout.output_dir / "intermediate"),
        "resource_config": resource_config,
        "user_entry_point": entry_point,
    }
    env = {f"SM_{key.upper()}": env_value(value) for key, value in training_env.items()}
    env.update(
        {
            "SM_CHANNELS": json.dumps(sorted(channels)),
            "SM_HPS": json.dumps(user),
            "SM_USER_ARGS": json.dumps(to_cmd_args(user)),
            "SM_FRAMEWORK_PARAMS": json.dumps(framework),
            "SM_TRAINING_ENV": json.dumps(training_env),
            "SM_CURRENT_INSTANCE_GROUP": "homogeneousCluster",
            "SM_CURRENT_INSTANCE_GROUP_HOSTS": json.dumps(hosts),
            "SM_INSTANCE_GROUPS": json.dumps(["homogeneousCluster"]),
            "SM_DISTRIBUTION_INSTANCE_GROUPS": json.dumps([]),
            "SM_IS_HETERO": "false",
            "SM_INPUT_DATA_CONFIG": json.dumps(input_data_config),
        }
    )
    for name, path in channels.items():
        env[f"SM_CHANNEL_{name.upper()}"] = str(path)
    for name, value in user.items():
        env[f"SM_HP_{name.upper()}"] = env_value(value)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(code_dir), os.environ.get("PYTHONPATH", "")) if p
    )
    return env


def fetch_source(layout: JobLayout, spec: dict[str, Any]) -> Path:
    """Download and unpack sourcedir.tar.gz into the job's code dir."""
    from modelyard.runtime.store import job_store
    from modelyard.storage import parse_s3_uri

    code_dir = layout.root / "code"
    code_dir.mkdir(parents=True, exist_ok=True)
    archive = layout.root / "sourcedir.tar.gz"
    bucket, key = parse_s3_uri(spec["script"]["source_dir"])
    job_store(spec["storage_url"]).download_file(bucket, key, archive)
    with tarfile.open(archive) as tar:
        tar.extractall(code_dir, filter="data")
    return code_dir


def command(code_dir: Path, entry_point: str, args: list[str], python: str) -> list[str]:
    path = code_dir / entry_point
    if not path.is_file():
        raise ScriptFailed(f"ClientError: entry_point {entry_point!r} is not in the source dir")
    if path.suffix == ".py":
        return [python, entry_point, *args]
    if path.suffix == ".sh":
        return ["/bin/sh", entry_point, *args]
    return [str(path), *args]


def metric_matchers(
    definitions: list[dict[str, str]],
) -> list[tuple[str, re.Pattern[str]]]:
    return [(d["name"], re.compile(d["regex"])) for d in definitions]


@dataclass
class Host:
    """One of the job's hosts: its name, its own SageMaker-shaped work dir and channels."""

    name: str
    layout: JobLayout
    channels: dict[str, Path]


def distribution_env(
    spec: dict[str, Any], hosts: list[str], host: str, port: int
) -> dict[str, str]:
    """torchrun's environment for `distribution={"torch_distributed" | "pytorchddp": ...}`:
    each host is one node running one process, rendezvous on the first host."""
    distribution = (spec.get("script") or {}).get("distribution") or {}
    enabled = any(
        (distribution.get(kind) or {}).get("enabled")
        for kind in ("torch_distributed", "pytorchddp")
    )
    if not enabled:
        return {}
    rank = hosts.index(host)
    return {
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": str(port),
        "WORLD_SIZE": str(len(hosts)),
        "RANK": str(rank),
        "GROUP_RANK": str(rank),
        "LOCAL_RANK": "0",
        "LOCAL_WORLD_SIZE": "1",
        # The hosts share this machine: gloo pairs over loopback rather than over whatever
        # address the machine's hostname happens to resolve to.
        "GLOO_SOCKET_IFNAME": "lo",
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_script(
    hosts: list[Host],
    spec: dict[str, Any],
    report_metric: Callable[[str, float, int | None], None],
    log: Callable[[str], None],
) -> None:
    """Run the entry point on every host to its end, streaming each one's output into the job
    log (prefixed with the host when there are several) and turning lines that match the
    metric definitions into metrics. Raises ScriptFailed when any host fails."""
    first = hosts[0].layout
    code_dir = fetch_source(first, spec)
    user, framework = split_hyperparameters(spec["hyperparameters"])
    script = spec["script"]
    if script.get("note"):
        log(script["note"])
    python = sys.executable
    requirements = code_dir / "requirements.txt"
    if requirements.is_file():
        try:
            python = str(environment_for(requirements, Path(spec["envs_dir"]), log))
        except RequirementsFailed as exc:
            raise ScriptFailed(str(exc)) from None
    argv = command(code_dir, script["entry_point"], to_cmd_args(user), python)
    names = [host.name for host in hosts]
    port = free_port()
    envs = []
    for host in hosts:
        host_spec = {**spec, "current_host": host.name}
        if len(hosts) > 1:
            host_spec["num_cpus"] = max(1, int(spec["num_cpus"]) // len(hosts))
        env = {
            **os.environ,
            **sm_environment(host.layout, host_spec, host.channels, user, framework, code_dir),
        }
        checkpoint_dir = host.layout.root / "checkpoints"
        checkpoint_dir.mkdir(exist_ok=True)
        env["SM_CHECKPOINT_DIR"] = str(checkpoint_dir)  # SageMaker's /opt/ml/checkpoints
        env.update(distribution_env(spec, names, host.name, port))
        envs.append(env)
    # Checkpoints are restored to and synced from the first host, which keeps the model too.
    checkpoints = checkpoint_sync(spec, first.root / "checkpoints", log)
    if checkpoints is not None:
        checkpoints.restore()
        checkpoints.start()
    log(f"running {' '.join(argv)}" + (f" on {len(hosts)} hosts" if len(hosts) > 1 else ""))
    # A stop sends SIGTERM to the whole job: the script gets it; this process stays to read
    # the script's last lines and upload its last checkpoints (SIGKILL still ends both).
    previous = signal.signal(signal.SIGTERM, lambda *_: None)
    try:
        runs = [
            HostRun(
                name if len(hosts) > 1 else None,
                argv,
                code_dir,
                env,
                metric_matchers(spec.get("metric_definitions") or []),
                report_metric,
            )
            for name, env in zip(names, envs, strict=True)
        ]
        failed = wait_all(runs)
    finally:
        if checkpoints is not None:
            checkpoints.stop()
        signal.signal(signal.SIGTERM, previous)
    if failed is not None:
        message = failure_message(failed.code, argv, list(failed.tail))
        raise ScriptFailed(message if len(hosts) == 1 else f"{failed.host}: {message}")


_OUTPUT_LOCK = threading.Lock()


class HostRun:
    """One host's process, its output copied into the job log line by line."""

    def __init__(
        self,
        host: str | None,
        argv: list[str],
        cwd: Path,
        env: dict[str, str],
        matchers: list[tuple[str, re.Pattern[str]]],
        report_metric: Callable[[str, float, int | None], None],
    ) -> None:
        self.host = host
        self.tail: deque[str] = deque(maxlen=TAIL_LINES)
        self.code = 0
        self.process = subprocess.Popen(
            argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        self._matchers = matchers
        self._report = report_metric
        self.reader = threading.Thread(target=self._read, name=f"output-{host}", daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        prefix = f"[{self.host}] ".encode() if self.host else b""
        out = sys.stdout.buffer
        for raw in self.process.stdout:
            with _OUTPUT_LOCK:
                out.write(prefix + raw)
                out.flush()
            line = raw.decode("utf-8", "replace").rstrip("\n")
            self.tail.append(line)
            for name, pattern in self._matchers:
                match = pattern.search(line)
                if match:
                    try:
                        self._report(name, float(match.group(1)), None)
                    except ValueError:
                        pass


def wait_all(runs: list[HostRun]) -> HostRun | None:
    """Wait for every host; the first that failed, after stopping the others (they would wait
    for it forever in a collective), or None when all succeeded."""
    if len(runs) == 1:  # nothing to stop when it fails: just wait
        run = runs[0]
        run.code = run.process.wait()
        run.reader.join()
        return run if run.code != 0 else None
    pending = list(runs)
    failed: HostRun | None = None
    while pending:
        for run in list(pending):
            code = run.process.poll()
            if code is None:
                continue
            run.reader.join()
            run.code = code
            pending.remove(run)
            if code != 0 and failed is None:
                failed = run
                for other in pending:
                    other.process.terminate()
        time.sleep(0.02)
    return failed


def failure_message(code: int, argv: list[str], tail: list[str]) -> str:
    """SageMaker's shape: ExecuteUserScriptError with the exit code, the error and the command."""
    lines = [line for line in tail if line.strip()]
    error = ""
    for index in range(len(lines) - 1, -1, -1):
        if lines[index].startswith("Traceback"):
            error = lines[-1]
            break
    if not error:
        error = "\n".join(lines[-5:])
    how = f"ExitCode {code}" if code >= 0 else f"killed by signal {-code}"
    return (
        f'AlgorithmError: ExecuteUserScriptError:\n{how}\nErrorMessage "{error}"\n'
        f'Command "{" ".join(argv)}"'
    )
