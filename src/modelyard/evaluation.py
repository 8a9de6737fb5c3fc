"""Model evaluation on a test set: metrics, curves, permutation importance and an HTML report.

An evaluation job loads a trained model, predicts on the test channel and hands the arrays to
`evaluate`; the dict it returns is written as `evaluation.json` and `render_report` turns it into
a self-contained `report.html` (inline CSS and SVG, no scripts, nothing fetched from a network).

Everything here is pure: arrays in, plain JSON values out. NaN and infinity never reach the dict
(an undefined metric is None), so `json.dumps(..., allow_nan=False)` always works.
"""

from __future__ import annotations

import html
import math
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from sklearn import metrics as skm

from modelyard.errors import InvalidRequest

PROBLEM_TYPES = ("binary_classifier", "multiclass_classifier", "regressor")
MAX_CURVE_POINTS = 200  # enough for a smooth curve, small enough for a readable JSON file
MAX_SCATTER_POINTS = 500
CALIBRATION_BINS = 10
HISTOGRAM_BINS = 20
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


# ---------------------------------------------------------------------------- JSON-safe values
def _num(value: Any) -> float | None:
    """A plain float, or None where the metric is undefined (NaN/inf would break strict JSON)."""
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _nums(values: Any) -> list[float | None]:
    return [_num(v) for v in np.asarray(values, dtype=float).ravel()]


def _label(value: Any) -> Any:
    """A class label as a JSON scalar; labels read from CSV arrive as 1.0, shown as 1."""
    plain = value.item() if isinstance(value, np.generic) else value
    if isinstance(plain, float) and plain.is_integer():
        return int(plain)
    return plain if isinstance(plain, bool | int | float | str) else str(plain)


def _column(values: Any, name: str) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim == 2 and array.shape[1] == 1:  # a single-column frame or (n, 1) model output
        array = array[:, 0]
    if array.ndim != 1:
        raise InvalidRequest(f"{name} must be one-dimensional, got shape {array.shape}")
    return array


def _finite(values: np.ndarray, name: str) -> np.ndarray:
    try:
        floats = values.astype(float)
    except (TypeError, ValueError) as exc:
        raise InvalidRequest(f"{name} must be numeric for a regressor: {exc}") from exc
    if not np.isfinite(floats).all():
        raise InvalidRequest(f"{name} contains NaN or infinite values")
    return floats


def _downsample(count: int, limit: int = MAX_CURVE_POINTS) -> np.ndarray:
    """Evenly spaced indices that always keep the first and last point (the curve's endpoints)."""
    if count <= limit:
        return np.arange(count)
    return np.unique(np.linspace(0, count - 1, limit).round().astype(int))


def _prf(precision: Any, recall: Any, f1: Any) -> dict[str, float | None]:
    return {"precision": _num(precision), "recall": _num(recall), "f1": _num(f1)}


# ---------------------------------------------------------------------------- evaluate
def evaluate(
    problem_type: str,
    y_true: np.ndarray,
    predictions: np.ndarray,
    *,
    probabilities: np.ndarray | None = None,
    features: np.ndarray | None = None,
    predict: Callable[[np.ndarray], np.ndarray] | None = None,
    feature_names: list[str] | None = None,
    random_seed: int = 0,
    permutation_repeats: int = 5,
    max_rows_for_importance: int = 2000,
) -> dict[str, Any]:
    """The evaluation report of `predictions` (labels or values) against `y_true`.

    `probabilities` (classifiers): binary takes (n,) positive-class scores or (n, 2); multiclass
    takes (n, k) with columns in sorted label order. With `features` and `predict` (labels for a
    classifier, values for a regressor), each feature column is shuffled to measure how much the
    primary score (accuracy, or R² for a regressor) drops.
    """
    if problem_type not in PROBLEM_TYPES:
        raise InvalidRequest(
            f"unknown problem type {problem_type!r}; expected one of {', '.join(PROBLEM_TYPES)}",
            {"problem_type": problem_type, "allowed": list(PROBLEM_TYPES)},
        )
    y, pred = _column(y_true, "y_true"), _column(predictions, "predictions")
    if len(y) == 0:
        raise InvalidRequest("y_true is empty: there is nothing to evaluate")
    if len(pred) != len(y):
        raise InvalidRequest(f"length mismatch: y_true has {len(y)} rows, predictions {len(pred)}")
    if (features is None) != (predict is None):
        raise InvalidRequest("permutation importance needs both features and predict")
    if problem_type == "regressor":
        if probabilities is not None:
            raise InvalidRequest("probabilities are only meaningful for a classifier")
        y, pred = _finite(y, "y_true"), _finite(pred, "predictions")
        body = _regression(y, pred, random_seed)
        headline = {k: body[k] for k in ("rmse", "mae", "r2", "mse", "mape")}
    else:
        body = _classification(problem_type, y, pred, probabilities)
        headline = {"accuracy": body["accuracy"], **body["macro_avg"]}
        headline |= {k: body[k] for k in ("auc", "log_loss", "brier")}
    body["feature_importance"] = None
    if features is not None and predict is not None:
        body["feature_importance"] = _permutation_importance(
            problem_type == "regressor", y, features, predict, feature_names,
            random_seed, permutation_repeats, max_rows_for_importance,
        )  # fmt: skip
    # Only defined numbers are headline metrics: a caller records each one as a float.
    metrics = {name: value for name, value in headline.items() if value is not None}
    return {"problem_type": problem_type, "rows": int(len(y)), "metrics": metrics, **body}


def _regression(y: np.ndarray, pred: np.ndarray, seed: int) -> dict[str, Any]:
    residuals = y - pred  # actual minus predicted: positive means the model under-predicts
    mse = float(np.mean(residuals**2))
    nonzero = y != 0  # MAPE divides by the actual value, so rows whose actual is 0 are skipped
    mape = np.mean(np.abs(residuals[nonzero] / y[nonzero])) if nonzero.any() else None
    sample = np.arange(len(y))
    if len(y) > MAX_SCATTER_POINTS:  # a random sample, not every k-th row, avoids row-order bias
        sample = np.sort(np.random.default_rng(seed).choice(len(y), MAX_SCATTER_POINTS, False))
    counts, edges = np.histogram(residuals, bins=HISTOGRAM_BINS)
    summary = {"mean": residuals.mean(), "std": residuals.std()}
    summary |= {"min": residuals.min(), "max": residuals.max()}
    return {
        "rmse": _num(math.sqrt(mse)),
        "mae": _num(skm.mean_absolute_error(y, pred)),
        "r2": _num(skm.r2_score(y, pred)) if len(y) > 1 else None,  # undefined for one row
        "mse": _num(mse),
        "mape": _num(mape),  # a fraction, as sklearn's mean_absolute_percentage_error
        "residuals": {k: _num(v) for k, v in summary.items()}
        | {"quantiles": {f"{q:g}": _num(np.quantile(residuals, q)) for q in QUANTILES}},
        "predicted_vs_actual": {"actual": _nums(y[sample]), "predicted": _nums(pred[sample])},
        "residual_histogram": {"edges": _nums(edges), "counts": [int(c) for c in counts]},
    }


def _classes(problem_type: str, y: np.ndarray, pred: np.ndarray) -> np.ndarray:
    try:
        classes = np.union1d(y, pred)
    except TypeError as exc:
        raise InvalidRequest(f"labels of y_true and predictions do not compare: {exc}") from exc
    if problem_type == "binary_classifier":
        if len(classes) > 2:
            shown = ", ".join(str(_label(c)) for c in classes[:10])
            raise InvalidRequest(
                f"binary_classifier needs at most 2 distinct labels, got {len(classes)}: {shown}"
            )
        if len(classes) == 1 and classes.dtype.kind in "biuf" and classes[0] in (0, 1):
            classes = np.array([0, 1])  # a test set of one class still has both 0/1 labels
    return classes


def _probabilities(raw: Any, rows: int, classes: np.ndarray, binary: bool) -> np.ndarray:
    """(n,) positive-class scores for binary, (n, k) rows summing to 1 for multiclass."""
    proba = np.asarray(raw, dtype=float)
    if proba.ndim == 2 and proba.shape[1] == 1:
        proba = proba[:, 0]
    if binary:
        ok = proba.ndim == 1 or (proba.ndim == 2 and proba.shape[1] == 2)
    else:  # more columns than seen labels is resolved by the caller (a class absent from test)
        ok = proba.ndim == 2 and proba.shape[1] >= len(classes)
    if not ok or proba.shape[0] != rows:
        want = "(n,) or (n, 2)" if binary else f"(n, {len(classes)})"
        raise InvalidRequest(
            f"probabilities must have shape {want} with n={rows}, got {proba.shape}"
        )
    if not np.isfinite(proba).all() or proba.min() < -1e-6 or proba.max() > 1 + 1e-6:
        raise InvalidRequest("probabilities must be finite values between 0 and 1")
    proba = np.clip(proba, 0.0, 1.0)
    if proba.ndim == 2:
        sums = proba.sum(axis=1)
        if np.abs(sums - 1).max() > 1e-3:
            raise InvalidRequest("each row of probabilities must sum to 1")
        proba = proba / sums[:, None]  # float32 model output sums to 1 only within rounding
    return proba[:, 1] if binary and proba.ndim == 2 else proba


def _classification(
    problem_type: str, y: np.ndarray, pred: np.ndarray, probabilities: Any
) -> dict[str, Any]:
    binary = problem_type == "binary_classifier"
    classes = _classes(problem_type, y, pred)
    proba = (
        None if probabilities is None else _probabilities(probabilities, len(y), classes, binary)
    )
    if proba is not None and proba.ndim == 2 and proba.shape[1] != len(classes):
        # The test set lacks some class; integer labels 0..k-1 still say which column is which.
        k = proba.shape[1]
        if classes.dtype.kind not in "biuf" or not np.isin(classes, np.arange(k)).all():
            raise InvalidRequest(f"probabilities has {k} columns for {len(classes)} classes")
        classes = np.arange(k)
    p, r, f, support = skm.precision_recall_fscore_support(y, pred, labels=classes, zero_division=0)
    avg = {
        a: _prf(*skm.precision_recall_fscore_support(y, pred, labels=classes, average=a,
                                                     zero_division=0)[:3])
        for a in ("macro", "weighted")
    }  # fmt: skip
    labels = [_label(c) for c in classes]
    out: dict[str, Any] = {
        "classes": labels,
        "positive_label": labels[-1] if binary else None,
        "accuracy": _num(skm.accuracy_score(y, pred)),
        "per_class": [
            {"label": labels[i], **_prf(p[i], r[i], f[i]), "support": int(support[i])}
            for i in range(len(classes))
        ],
        "macro_avg": avg["macro"],
        "weighted_avg": avg["weighted"],
        "confusion_matrix": {
            "labels": labels,
            "matrix": skm.confusion_matrix(y, pred, labels=classes).astype(int).tolist(),
        },
    }
    out |= dict.fromkeys(("auc", "log_loss", "brier", "roc_curve", "pr_curve", "calibration"))
    if proba is None:
        return out
    with warnings.catch_warnings():  # undefined cases become None below, not warnings
        warnings.simplefilter("ignore")
        if binary:
            return out | _binary_curves((y == classes[-1]).astype(int), proba)
        onehot = (y[:, None] == classes[None, :]).astype(float)
        out["log_loss"] = _num(skm.log_loss(y, proba, labels=classes))
        # Multiclass Brier: the mean over rows of the squared distance to the one-hot truth.
        out["brier"] = _num(np.mean(np.sum((proba - onehot) ** 2, axis=1)))
        try:
            out["auc"] = _num(skm.roc_auc_score(y, proba, multi_class="ovr", labels=classes))
        except ValueError:  # a class absent from y_true: its one-vs-rest AUC is undefined
            pass
    return out


def _binary_curves(positive: np.ndarray, score: np.ndarray) -> dict[str, Any]:
    # Reliability diagram on equal-width bins; empty bins stay (count 0) so the bins line up.
    edges = np.linspace(0.0, 1.0, CALIBRATION_BINS + 1)
    which = np.digitize(score, edges[1:-1])  # 0..bins-1; a score of exactly 1 is in the last
    members = [which == b for b in range(CALIBRATION_BINS)]
    out: dict[str, Any] = {
        "log_loss": _num(skm.log_loss(positive, score, labels=[0, 1])),
        "brier": _num(np.mean((score - positive) ** 2)),
        "calibration": {
            "edges": _nums(edges),
            "counts": [int(m.sum()) for m in members],
            "mean_predicted": [_num(score[m].mean()) if m.any() else None for m in members],
            "fraction_positive": [_num(positive[m].mean()) if m.any() else None for m in members],
        },
    }
    if 0 < positive.sum() < len(positive):  # ROC and PR need both classes in the truth
        fpr, tpr, thresholds = skm.roc_curve(positive, score)
        keep = _downsample(len(fpr))
        out["auc"] = _num(skm.roc_auc_score(positive, score))
        out["roc_curve"] = {"fpr": _nums(fpr[keep]), "tpr": _nums(tpr[keep])}
        out["roc_curve"]["thresholds"] = _nums(thresholds[keep])  # the first is inf: None
        precision, recall, _ = skm.precision_recall_curve(positive, score)
        keep = _downsample(len(precision))
        out["pr_curve"] = {"precision": _nums(precision[keep]), "recall": _nums(recall[keep])}
        out["pr_curve"]["average_precision"] = _num(skm.average_precision_score(positive, score))
    return out


def _permutation_importance(
    regressor: bool,
    y: np.ndarray,
    features: Any,
    predict: Callable[[np.ndarray], np.ndarray],
    feature_names: list[str] | None,
    seed: int,
    repeats: int,
    max_rows: int,
) -> dict[str, Any]:
    # A short loop rather than sklearn's permutation_importance: `predict` is a bare callable,
    # not an estimator, and one seeded generator keeps every shuffle reproducible.
    X = np.asarray(features)
    if X.ndim != 2 or X.shape[0] != len(y):
        raise InvalidRequest(f"features must have shape ({len(y)}, n_features), got {X.shape}")
    names = list(feature_names or []) or [f"f{j}" for j in range(X.shape[1])]
    if len(names) != X.shape[1]:
        raise InvalidRequest(f"{len(names)} feature names given for {X.shape[1]} feature columns")
    if repeats < 1 or max_rows < 1:
        raise InvalidRequest("permutation_repeats and max_rows_for_importance must be >= 1")
    rng = np.random.default_rng(seed)
    rows = np.arange(len(y))
    if len(y) > max_rows:
        rows = np.sort(rng.choice(len(y), max_rows, replace=False))
    X, y = X[rows], y[rows]

    def score(X_: np.ndarray) -> float:
        out = _column(predict(X_), "predict(features)")
        if len(out) != len(y):
            raise InvalidRequest(f"predict returned {len(out)} values for {len(y)} rows")
        return float(skm.r2_score(y, out) if regressor else skm.accuracy_score(y, out))

    baseline = score(X)
    drops = np.empty((X.shape[1], repeats))
    for j in range(X.shape[1]):
        shuffled = X.copy()
        for r in range(repeats):
            shuffled[:, j] = X[rng.permutation(len(X)), j]
            drops[j, r] = baseline - score(shuffled)
    order = sorted(range(X.shape[1]), key=lambda j: -drops[j].mean())
    return {
        "metric": "r2" if regressor else "accuracy",
        "baseline": _num(baseline),
        "rows": int(len(rows)),
        "repeats": repeats,
        "features": [
            {"feature": str(names[j]), "index": j, "mean": _num(drops[j].mean()),
             "std": _num(drops[j].std())}
            for j in order
        ],
    }  # fmt: skip


# ---------------------------------------------------------------------------- HTML report
_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1f2328;
 max-width:1120px;margin:24px auto;padding:0 20px;background:#fff}
h1{font-size:22px;margin:0 0 4px}
h2{font-size:16px;margin:28px 0 10px;padding-bottom:4px;border-bottom:1px solid #d8dee4}
.muted{color:#656d76;font-size:13px}
table{border-collapse:collapse;font-size:13px}
th,td{padding:4px 10px;border:1px solid #d8dee4;text-align:right}
th{background:#f6f8fa}
.l{text-align:left}
.grid{display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start}
figure{margin:0;padding:8px 10px;border:1px solid #d8dee4;border-radius:6px}
figcaption{font-size:13px;font-weight:600;margin-bottom:4px}
svg text{font-size:11px;fill:#424a53}
"""
_BLUE, _GREY, _ORANGE, _GRID = "#2563eb", "#9aa4ae", "#ea580c", "#eef1f4"
_W, _H = 440, 320


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    return f"{value:.4g}" if isinstance(value, float) else _esc(value)


def _el(tag: str, text: str = "", **attrs: Any) -> str:
    """One SVG element: attribute names use _ for - (text_anchor), floats get one decimal."""
    spec = " ".join(
        f'{k.replace("_", "-")}="{f"{v:.1f}" if isinstance(v, float) else _esc(v)}"'
        for k, v in attrs.items()
    )
    return f"<{tag} {spec}>{_esc(text)}</{tag}>" if text else f"<{tag} {spec}/>"


def _ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """'Nice' tick values (steps of 1, 2, 2.5 or 5 times a power of ten) within [lo, hi]."""
    if not hi > lo:
        return [lo]
    raw = (hi - lo) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    start = math.ceil(lo / step - 1e-9) * step
    return [round(start + i * step, 10) for i in range(int((hi - start) / step + 1e-9) + 1)]


def _extent(values: Sequence[float]) -> tuple[float, float]:
    lo, hi = (min(values), max(values)) if values else (0.0, 1.0)
    pad = (hi - lo) * 0.05 or 1.0
    return lo - pad, hi + pad


def _axes(
    xr: tuple[float, float], yr: tuple[float, float], x_label: str, y_label: str,
    w: int = _W, h: int = _H, left: int = 58, y_ticks: bool = True,
) -> tuple[list[str], Callable[[float], float], Callable[[float], float]]:  # fmt: skip
    """Frame, grid, tick labels and axis titles; returns the parts and the two scale functions."""
    right, top, bottom = 14, 10, 42
    x1, y1 = w - right, h - bottom

    def sx(v: float) -> float:
        return left + (v - xr[0]) / ((xr[1] - xr[0]) or 1) * (x1 - left)

    def sy(v: float) -> float:
        return y1 - (v - yr[0]) / ((yr[1] - yr[0]) or 1) * (y1 - top)

    parts = [_el("rect", x=left, y=top, width=x1 - left, height=y1 - top, fill="#fff")]
    for t in _ticks(*xr):
        parts.append(_el("line", x1=sx(t), y1=top, x2=sx(t), y2=y1, stroke=_GRID))
        parts.append(_el("text", f"{t:.6g}", x=sx(t), y=y1 + 15, text_anchor="middle"))
    for t in _ticks(*yr) if y_ticks else []:
        parts.append(_el("line", x1=left, y1=sy(t), x2=x1, y2=sy(t), stroke=_GRID))
        parts.append(_el("text", f"{t:.6g}", x=left - 6, y=sy(t) + 4, text_anchor="end"))
    parts.append(_el("rect", x=left, y=top, width=x1 - left, height=y1 - top, fill="none",
                     stroke="#c4ccd4"))  # fmt: skip
    parts.append(_el("text", x_label, x=(left + x1) / 2, y=h - 6, text_anchor="middle"))
    if y_label:
        cy = (top + y1) / 2
        rotate = f"rotate(-90 14 {cy:.1f})"
        parts.append(_el("text", y_label, x=14, y=cy, text_anchor="middle", transform=rotate))
    return parts, sx, sy


def _svg(parts: list[str], w: int = _W, h: int = _H) -> str:
    # Inline <svg> in HTML5 needs no xmlns, so the page holds no URL at all.
    return f'<svg width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img">{"".join(parts)}</svg>'


def _line_chart(
    series: list[dict[str, Any]], x_label: str, y_label: str,
    xr: tuple[float, float] | None = None, yr: tuple[float, float] | None = None,
) -> str:  # fmt: skip
    """Each series: x, y, color; optionally dash, points (markers) and line (on by default)."""
    pairs = [[p for p in zip(s["x"], s["y"], strict=True) if None not in p] for s in series]
    xr = xr or _extent([x for ps in pairs for x, _ in ps])
    yr = yr or _extent([y for ps in pairs for _, y in ps])
    parts, sx, sy = _axes(xr, yr, x_label, y_label)
    for s, ps in zip(series, pairs, strict=True):
        if s.get("line", True) and ps:
            coords = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in ps)
            dash = "5 4" if s.get("dash") else "none"
            parts.append(_el("polyline", points=coords, fill="none", stroke=s["color"],
                             stroke_width=2, stroke_dasharray=dash))  # fmt: skip
        if s.get("points"):
            r, fill = s.get("radius", 2.6), s["color"]
            parts += [_el("circle", cx=sx(x), cy=sy(y), r=r, fill=fill, fill_opacity=0.6)
                      for x, y in ps]  # fmt: skip
    return _svg(parts)


def _histogram(edges: list[float], counts: list[int], x_label: str) -> str:
    parts, sx, sy = _axes((edges[0], edges[-1]), (0, max(max(counts), 1) * 1.08), x_label, "rows")
    for lo, hi, c in zip(edges, edges[1:], counts, strict=False):
        parts.append(_el("rect", x=sx(lo) + 0.5, y=sy(c), width=max(sx(hi) - sx(lo) - 1, 1.0),
                         height=sy(0) - sy(c), fill=_BLUE, fill_opacity=0.8))  # fmt: skip
    return _svg(parts)


def _hbar_chart(labels: list[str], means: list[float], stds: list[float], x_label: str) -> str:
    """Horizontal bars with ±1 std whiskers, labels left of the frame, a line at zero."""
    left = 16 + 7 * max(min(len(label), 26) for label in labels)  # room for the longest label
    w, h = left + 460, 60 + 22 * len(labels)
    lo = min([0.0] + [m - s for m, s in zip(means, stds, strict=True)])
    hi = max([0.0] + [m + s for m, s in zip(means, stds, strict=True)])
    parts, sx, sy = _axes(_extent([lo, hi]), (len(labels), 0), x_label, "", w, h, left, False)
    for i, (label, m, s) in enumerate(zip(labels, means, stds, strict=True)):
        top, bottom, mid = sy(i + 0.18), sy(i + 0.82), sy(i + 0.5)
        short = label if len(label) <= 26 else label[:25] + "…"
        parts.append(_el("text", short, x=left - 6, y=mid + 4, text_anchor="end"))
        x0, x1 = sorted((sx(0), sx(m)))
        parts.append(_el("rect", x=x0, y=top, width=max(x1 - x0, 1.0), height=bottom - top,
                         fill=_BLUE if m >= 0 else _ORANGE))  # fmt: skip
        parts.append(_el("line", x1=sx(m - s), y1=mid, x2=sx(m + s), y2=mid, stroke="#1f2328"))
    parts.append(_el("line", x1=sx(0), y1=sy(0), x2=sx(0), y2=sy(len(labels)), stroke="#57606a"))
    return _svg(parts, w, h)


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    def row(cells: list[str], tag: str) -> str:
        return "<tr>" + "".join(
            f'<{tag}{" class=l" if i == 0 else ""}>{c}</{tag}>' for i, c in enumerate(cells)
        ) + "</tr>"  # fmt: skip

    body = "".join(row([_fmt(v) for v in r], "td") for r in rows)
    return f"<table>{row([_esc(h) for h in headers], 'th')}{body}</table>"


def _heatmap(labels: list[Any], matrix: list[list[int]]) -> str:
    """Confusion matrix as a table; shading is row-normalised so small classes stay visible."""
    rows = ["<tr><th class=l>actual \\ predicted</th>"]
    rows += [f'<th style="text-align:center">{_esc(label)}</th>' for label in labels] + ["</tr>"]
    for label, counts in zip(labels, matrix, strict=True):
        rows.append(f"<tr><th class=l>{_esc(label)}</th>")
        for count in counts:
            share = count / (sum(counts) or 1)
            ink = "#fff" if share > 0.55 else "#1f2328"
            rows.append(f'<td style="background:rgba(37,99,235,{share:.3f});color:{ink};'
                        f'min-width:48px;text-align:center">{count}</td>')  # fmt: skip
        rows.append("</tr>")
    return f"<table>{''.join(rows)}</table>"


def _diagonal(lo: float = 0.0, hi: float = 1.0) -> dict[str, Any]:
    return {"x": [lo, hi], "y": [lo, hi], "color": _GREY, "dash": True}


def _figure(caption: str, body: str) -> str:
    return f"<figure><figcaption>{_esc(caption)}</figcaption>{body}</figure>"


def _charts(ev: dict[str, Any]) -> list[str]:
    unit, figures = (-0.02, 1.02), []  # a little air so curves along 0 or 1 clear the frame
    if roc := ev.get("roc_curve"):
        curve = {"x": roc["fpr"], "y": roc["tpr"], "color": _BLUE}
        chart = _line_chart([_diagonal(), curve], "false positive rate", "true positive rate",
                            unit, unit)  # fmt: skip
        figures.append(_figure(f"ROC curve (AUC {_fmt(ev.get('auc'))})", chart))
    if pr := ev.get("pr_curve"):
        curve = {"x": pr["recall"], "y": pr["precision"], "color": _BLUE}
        chart = _line_chart([curve], "recall", "precision", unit, unit)
        figures.append(_figure(f"Precision-recall (AP {_fmt(pr['average_precision'])})", chart))
    if cal := ev.get("calibration"):
        curve = {"x": cal["mean_predicted"], "y": cal["fraction_positive"], "color": _BLUE}
        curve |= {"points": True, "radius": 4}
        chart = _line_chart([_diagonal(), curve], "mean predicted probability",
                            "fraction positive", unit, unit)  # fmt: skip
        figures.append(_figure(f"Calibration (Brier {_fmt(ev.get('brier'))})", chart))
    if pva := ev.get("predicted_vs_actual"):
        both = _extent([v for v in pva["actual"] + pva["predicted"] if v is not None])
        dots = {"x": pva["actual"], "y": pva["predicted"], "color": _BLUE, "line": False}
        chart = _line_chart([_diagonal(*both), dots | {"points": True}], "actual", "predicted",
                            both, both)  # fmt: skip
        figures.append(_figure(f"Predicted vs actual ({len(pva['actual'])} rows)", chart))
    if hist := ev.get("residual_histogram"):
        chart = _histogram(hist["edges"], hist["counts"], "residual (actual − predicted)")
        figures.append(_figure("Residual histogram", chart))
    return figures


def render_report(evaluation: dict[str, Any], title: str) -> str:
    """A complete HTML page for one `evaluate` result; it needs no network and no scripts."""
    ev = evaluation
    parts = [f"<h1>{_esc(title)}</h1>", '<p class="muted">']
    parts += [f"{_esc(ev.get('problem_type', ''))} · {_fmt(ev.get('rows'))} rows</p>"]
    parts += ["<h2>Headline metrics</h2>", _table(["metric", "value"], list(ev["metrics"].items()))]
    if figures := _charts(ev):
        parts += ["<h2>Charts</h2>", f'<div class="grid">{"".join(figures)}</div>']
    if cm := ev.get("confusion_matrix"):
        parts += ["<h2>Confusion matrix</h2>", _heatmap(cm["labels"], cm["matrix"])]
    if per_class := ev.get("per_class"):
        rows = [[c["label"], c["precision"], c["recall"], c["f1"], c["support"]] for c in per_class]
        for name in ("macro_avg", "weighted_avg"):
            a = ev[name]
            rows.append([name.replace("_", " "), a["precision"], a["recall"], a["f1"], ev["rows"]])
        headers = ["class", "precision", "recall", "f1", "support"]
        parts += ["<h2>Per-class metrics</h2>", _table(headers, rows)]
    if res := ev.get("residuals"):
        rows = [[k, res[k]] for k in ("mean", "std", "min", "max")]
        rows += [[f"quantile {q}", v] for q, v in res["quantiles"].items()]
        parts += ["<h2>Residual summary</h2>", _table(["statistic", "value"], rows)]
    if (imp := ev.get("feature_importance")) and imp["features"]:
        top = imp["features"][:30]  # past ~30 bars a chart stops being readable; the JSON has all
        means, stds = [f["mean"] or 0.0 for f in top], [f["std"] or 0.0 for f in top]
        chart = _hbar_chart([f["feature"] for f in top], means, stds, f"drop in {imp['metric']}")
        note = f"baseline {imp['metric']} {_fmt(imp['baseline'])} on {imp['rows']} rows, "
        note += f"{imp['repeats']} shuffles per feature; bars: mean drop, whiskers: ±1 std"
        parts += ["<h2>Permutation feature importance</h2>", f'<p class="muted">{_esc(note)}</p>']
        parts.append(chart)
    head = f'<meta charset="utf-8"><title>{_esc(title)}</title><style>{_CSS}</style>'
    body = "".join(parts)
    return f'<!DOCTYPE html>\n<html lang="en"><head>{head}</head><body>{body}</body></html>\n'
