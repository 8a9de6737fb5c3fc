"""The frameworks script mode runs user code with, and the versions this server has of them."""

from __future__ import annotations

from importlib import metadata

from modelyard.errors import InvalidRequest

# framework name -> (distribution to look up, the extra that installs it)
FRAMEWORKS = {
    "sklearn": ("scikit-learn", None),
    "xgboost": ("xgboost", None),
    "pytorch": ("torch", "pytorch"),
}


def installed_version(framework: str | None) -> str | None:
    """The installed version of the framework a script asks for; a clear 400 when there is
    no such framework or this server does not have it."""
    if framework is None:
        return None
    if framework not in FRAMEWORKS:
        raise InvalidRequest(
            f"unknown framework {framework!r}; use one of {', '.join(sorted(FRAMEWORKS))}",
            {"field": "script.framework"},
        )
    distribution, extra = FRAMEWORKS[framework]
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        how = f"pip install 'modelyard[{extra}]'" if extra else f"pip install {distribution}"
        raise InvalidRequest(
            f"{framework} is not installed on this server; install it with: {how}",
            {"field": "script.framework"},
        ) from None


def version_note(framework: str, requested: str | None, installed: str) -> str | None:
    """What to tell the user when the version asked for is not the one that will run."""
    if not requested:
        return None
    wanted = requested.split("-")[0].split(".")
    have = installed.split("+")[0].split(".")
    if wanted[:2] == have[: len(wanted[:2])]:
        return None
    return (
        f"framework_version {requested} was requested; this server runs {framework} "
        f"{installed}, and the script runs with that"
    )
