"""The algorithm catalog: what each registered algorithm declares, as data and as a document.

`describe(name)` is what ``GET /api/v1/algorithms/NAME`` and ``modelyard algorithms describe
NAME`` show; `markdown()` renders every algorithm for docs/algorithms.md, which is generated
from the declarations (``python -m modelyard.algorithms > docs/algorithms.md``) so that
it cannot drift from them.
"""

from __future__ import annotations

from typing import Any

from modelyard.algorithms.registry import get_algorithm, list_algorithms


def describe(name: str) -> dict[str, Any]:
    """The declaration of one algorithm: hyperparameters, problems, content types, channels,
    metrics and artifact. NotFound (listing the known names) for an unknown name."""
    return get_algorithm(name).describe()


def catalog() -> list[dict[str, Any]]:
    """The declaration of every algorithm that loads, sorted by name."""
    return [a.describe() for a in list_algorithms()]


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def _default(hp: dict[str, Any]) -> str:
    if hp["required"]:
        return "**required**"
    return "" if hp["default"] is None else f"`{hp['default']}`"


def _tuning(hp: dict[str, Any]) -> str:
    if hp["tuning_range"] is None:
        return ""
    values = ", ".join(str(v) for v in hp["tuning_range"])
    scale = hp["tuning_scale"]
    return f"{values}" + (f" ({scale.lower()})" if scale not in ("Auto", "Linear") else "")


def markdown(entries: list[dict[str, Any]] | None = None) -> str:
    """docs/algorithms.md: one section per algorithm (every one that loads by default)."""
    entries = catalog() if entries is None else entries
    lines = [
        "# Built-in algorithms",
        "",
        "Generated from the algorithms' own declarations by "
        "`python -m modelyard.algorithms`; the same facts are served by "
        "`GET /api/v1/algorithms/NAME`, `modelyard algorithms describe NAME` and "
        "`modelyard.algorithms.describe(NAME)`.",
        "",
        "| algorithm | problems | content types |",
        "|---|---|---|",
    ]
    for entry in entries:
        lines.append(
            f"| [`{entry['name']}`](#{entry['name']}) | {', '.join(entry['problem_types'])} "
            f"| {', '.join(entry['content_types'])} |"
        )
    for entry in entries:
        channels = entry["channels"]
        lines += [
            "",
            f"## {entry['name']}",
            "",
            entry["description"],
            "",
            f"- Problems: {', '.join(entry['problem_types'])}",
            f"- Content types: {', '.join(f'`{t}`' for t in entry['content_types'])}",
            f"- Channels: {', '.join(channels['required'])} (required)"
            + (f"; {', '.join(channels['optional'])} (optional)" if channels["optional"] else ""),
            f"- Model artifact: {entry['artifact'] or 'not documented by the algorithm'}",
            "",
            "| hyperparameter | type | default | allowed | tuning range | help |",
            "|---|---|---|---|---|---|",
        ]
        for hp in entry["hyperparameters"]:
            lines.append(
                f"| `{hp['name']}` | {hp['type']} | {_cell(_default(hp))} | {_cell(hp['allowed'])} "
                f"| {_cell(_tuning(hp))} | {_cell(hp['help'])} |"
            )
        metrics = entry["metrics"]
        if metrics:
            lines += ["", "Metrics: " + ", ".join(f"`{m['name']}`" for m in metrics) + "."]
    return "\n".join(lines) + "\n"


def builtin_markdown() -> str:
    """docs/algorithms.md: the built-ins only, whatever plug-ins this environment has."""
    from modelyard.algorithms.registry import BUILTIN

    return markdown([entry for entry in catalog() if entry["name"] in BUILTIN])
