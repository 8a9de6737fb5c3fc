"""A script's requirements.txt, installed into a virtual environment of its own, cached.

The environment is built on top of the platform's own: a `.pth` file puts the platform's
site-packages after the environment's, so numpy, torch and the rest are not reinstalled and
pip only adds what is missing or pinned differently. Environments are keyed by the hash of
the requirements file and reused by every later job with the same file; a lock makes two jobs
that need the same new environment build it once.
"""

from __future__ import annotations

import fcntl
import hashlib
import shutil
import subprocess
import sys
import sysconfig
import venv
from collections.abc import Callable
from pathlib import Path

READY = ".modelyard-ready"


def environment_for(requirements: Path, envs_dir: Path, log: Callable[[str], None]) -> Path:
    """The python of an environment with the requirements installed, building it if needed."""
    digest = hashlib.sha256(requirements.read_bytes()).hexdigest()[:16]
    env_dir = envs_dir / digest
    python = env_dir / "bin" / "python"
    if (env_dir / READY).exists():
        log(f"requirements.txt: reusing environment {digest}")
        return python
    envs_dir.mkdir(parents=True, exist_ok=True)
    with open(envs_dir / f"{digest}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another job may be building this very environment
        if (env_dir / READY).exists():
            log(f"requirements.txt: reusing environment {digest}")
            return python
        shutil.rmtree(env_dir, ignore_errors=True)  # a build that died half-way
        log(f"requirements.txt: building environment {digest}")
        venv.EnvBuilder(with_pip=False, symlinks=True).create(env_dir)
        inherit_platform_packages(env_dir)
        command = [
            sys.executable, "-m", "pip", "--python", str(python), "install",
            "--disable-pip-version-check", "--no-input", "-r", str(requirements),
        ]  # fmt: skip
        result = subprocess.run(
            command, cwd=requirements.parent, stdout=sys.stdout, stderr=subprocess.STDOUT
        )
        if result.returncode != 0:
            raise RequirementsFailed(
                f"ClientError: pip could not install requirements.txt (exit code "
                f"{result.returncode}); see the job log for pip's output"
            )
        (env_dir / READY).touch()
    return python


def inherit_platform_packages(env_dir: Path) -> None:
    """Let the new environment import what the platform's environment has installed."""
    site_packages = next((env_dir / "lib").glob("python*/site-packages"))
    paths = dict.fromkeys(sysconfig.get_paths()[key] for key in ("purelib", "platlib"))
    (site_packages / "_modelyard_platform.pth").write_text("\n".join(paths) + "\n")


class RequirementsFailed(Exception):
    """pip could not install a script's requirements.txt."""
