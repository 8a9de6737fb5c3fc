"""Packing the user's code for script mode: sourcedir.tar.gz, as the SageMaker SDK makes it."""

from __future__ import annotations

import tarfile
import tempfile
from pathlib import Path

from modelyard.errors import ModelyardError

IGNORED = {"__pycache__", ".git", ".ipynb_checkpoints", ".venv"}


def pack_source(
    entry_point: str, source_dir: str | None, dependencies: list[str] | None, into: Path
) -> tuple[Path, str]:
    """Write sourcedir.tar.gz into `into`; returns it and the entry point's path inside it.

    With a source_dir, the entry point is a path inside it and the whole directory is packed;
    without one, the entry point is a local file packed alone. Each dependency (a file or a
    directory) is added at the top level, as SageMaker does.
    """
    archive = into / "sourcedir.tar.gz"
    if source_dir is not None:
        root = Path(source_dir)
        if not root.is_dir():
            raise ModelyardError(f"source_dir {source_dir} is not a directory")
        if not (root / entry_point).is_file():
            raise ModelyardError(f"entry_point {entry_point} is not a file in {source_dir}")
        inside = entry_point
    else:
        if not Path(entry_point).is_file():
            raise ModelyardError(f"entry_point {entry_point} is not a file")
        inside = Path(entry_point).name
    with tarfile.open(archive, "w:gz") as tar:
        if source_dir is not None:
            for path in sorted(Path(source_dir).rglob("*")):
                relative = path.relative_to(source_dir)
                if IGNORED & set(relative.parts) or not path.is_file():
                    continue
                tar.add(path, arcname=relative.as_posix(), recursive=False)
        else:
            tar.add(entry_point, arcname=inside, recursive=False)
        for dependency in dependencies or []:
            path = Path(dependency)
            if not path.exists():
                raise ModelyardError(f"dependency {dependency} does not exist")
            tar.add(path, arcname=path.name, filter=_skip_ignored)
    return archive, inside


def _skip_ignored(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
    return None if IGNORED & set(Path(info.name).parts) else info


def temporary_dir() -> tempfile.TemporaryDirectory[str]:
    return tempfile.TemporaryDirectory(prefix="modelyard-source-")
