"""The built-in `factorization-machines` algorithm: SageMaker's Factorization Machines on
PyTorch, for binary classification and regression (not multiclass, as SageMaker's).

The model of a row x with d features and k = `num_factors` factors:

    y(x) = w0 + sum_i w_i x_i + sum_{i<j} <v_i, v_j> x_i x_j
         = w0 + sum_i w_i x_i + 1/2 sum_f [(sum_i v_if x_i)^2 - sum_i v_if^2 x_i^2]

computed in the second form, in O(k * nonzeros) per row. A regressor is trained on the squared
loss of y, a binary classifier on the logistic loss of the logit y (its score is sigmoid(y)).

Training follows SageMaker's hyperparameters: Adam (`eps`) with a learning rate and an L2
weight decay of its own for the bias w0 (`bias_lr`, `bias_wd`), the linear weights w
(`linear_*`) and the factors v (`factors_*`), each initialized from a normal, uniform or
constant distribution (`*_init_method` with `*_init_sigma`, `*_init_scale`, `*_init_value`).
`rescale_grad` multiplies and then `clip_gradient` clips every gradient element before the
weight decay is added, as MXNet's optimizers do. The loss is the mean over each mini-batch of
`mini_batch_size` rows, drawn from a seeded permutation of the rows every epoch. It runs on
the first CUDA GPU when there is one, else on the CPU with the job's CPU count as threads; a
fixed `seed` gives the same model on the CPU (on a GPU, up to the order of floating-point sums).

Input: ``text/libsvm`` keeps the data sparse (CSR rows become index / value tensors, batch by
batch), and ``feature_dim`` then sets the width even when the highest indices never occur in
the training data; dense ``text/csv`` (with or without a header) and parquet are accepted
too. Served requests arrive as dense float32 rows; wide, mostly-zero rows are scored through
the sparse path.

Metrics: ``train:loss`` every epoch (the mean objective over the epoch's mini-batches: MSE or
log loss); with a validation channel, every epoch, ``validation:loss`` and
``validation:rmse`` (regressor) or ``validation:log_loss`` and ``validation:accuracy``
(binary); step = epoch, counted from 0. After training, the shared supervised metrics of the
model on every channel (step None).

Artifacts in the model directory:

- ``model.pt``: a state_dict of CPU tensors ``bias`` (1,), ``linear`` (d,) and ``factors``
  (d, k), saved with ``torch.save`` and loadable with ``torch.load(path, weights_only=True)``;
- ``modelyard-model.json``: algorithm, num_features (d), num_factors (k), predictor_type,
  num_classes, hyperparameters.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from modelyard.algorithms.base import REQUIRED, Hyperparameter, TrainingContext
from modelyard.algorithms.data import (
    CSV,
    CSV_HEADER,
    LIBSVM,
    PARQUET,
    ChannelData,
)
from modelyard.algorithms.metrics import definitions
from modelyard.algorithms.supervised import (
    BINARY,
    COMMON_HYPERPARAMETERS,
    MULTICLASS,
    REGRESSOR,
    SupervisedModel,
    supervised_metrics,
)
from modelyard.algorithms.torch_support import (
    EVAL_ROWS,
    MODEL_FILE,
    TorchAlgorithm,
    batch_slices,
    choose_device,
    epoch_metrics,
    epoch_order,
    float_tensor,
    import_torch,
    load_state,
    report_epoch,
    save_state,
    seeded,
)
from modelyard.errors import InvalidHyperparameters, InvalidRequest

NAME = "factorization-machines"
PARTS = ("bias", "linear", "factors")
INIT_METHODS = ("normal", "uniform", "constant")
# Dense request rows at least this wide and mostly zeros are scored as sparse rows: the dense
# formula costs O(d * k) per row, the sparse one O(nonzeros * k).
SPARSE_SERVING_MIN_FEATURES = 1024
SPARSE_SERVING_MAX_DENSITY = 0.1

MULTICLASS_MESSAGE = (
    "factorization-machines (as SageMaker's) supports binary_classifier and regressor only; "
    "for more than two classes use mlp, xgboost or linear-learner"
)


def _hp(name: str, type_: type, default: Any, help: str, **kw: Any) -> Hyperparameter:
    return Hyperparameter(name=name, type=type_, default=default, help=help, **kw)


def _part_hyperparameters(part: str, lr: float, wd: float, sigma: float) -> list[Hyperparameter]:
    """The six knobs SageMaker gives each of bias, linear and factors."""
    what = {"bias": "the bias term", "linear": "the linear terms", "factors": "the factors"}[part]
    return [
        _hp(
            f"{part}_lr",
            float,
            lr,
            f"Learning rate of {what}.",
            min=0,
            tuning_range=(1e-6, 1.0),
            tuning_scale="Logarithmic",
        ),
        _hp(
            f"{part}_wd",
            float,
            wd,
            f"Weight decay (L2) of {what}.",
            min=0,
            tuning_range=(1e-8, 1.0),
            tuning_scale="Logarithmic",
        ),
        _hp(
            f"{part}_init_method",
            str,
            "normal",
            f"How {what} start: normal (sigma), uniform (+-scale) or constant (value).",
            choices=INIT_METHODS,
            tuning_range=INIT_METHODS,
        ),
        _hp(
            f"{part}_init_sigma",
            float,
            sigma,
            f"Standard deviation of {what} when {part}_init_method is normal.",
            min=0,
            tuning_range=(1e-6, 1.0),
            tuning_scale="Logarithmic",
        ),
        _hp(
            f"{part}_init_scale",
            float,
            None,
            f"{what.capitalize()} start uniform in [-scale, scale] when {part}_init_method is "
            "uniform (required then).",
            min=0,
            tuning_range=(1e-6, 1.0),
            tuning_scale="Logarithmic",
        ),
        _hp(
            f"{part}_init_value",
            float,
            None,
            f"Starting value of {what} when {part}_init_method is constant (required then).",
        ),
    ]


_COMMON = {hp.name: hp for hp in COMMON_HYPERPARAMETERS}

HYPERPARAMETERS: tuple[Hyperparameter, ...] = (
    replace(
        _COMMON["predictor_type"],
        help="Kind of target: binary_classifier (labels 0 and 1) or regressor.",
        choices=(BINARY, REGRESSOR),
    ),
    replace(
        _COMMON["feature_dim"],
        help="Number of features (default: taken from the data). With text/libsvm, the "
        "width of the data: indices run 0 .. feature_dim-1, used or not.",
    ),
    _COMMON["label"],
    _hp(
        "num_factors",
        int,
        REQUIRED,
        "Dimension of the factorization (64 is a good start).",
        min=1,
        max=10_000,
        tuning_range=(2, 1000),
        tuning_scale="Logarithmic",
    ),
    _hp("epochs", int, 1, "Passes over the training data.", min=1, tuning_range=(1, 100)),
    _hp(
        "mini_batch_size",
        int,
        1000,
        "Rows per gradient step.",
        min=1,
        tuning_range=(100, 10_000),
        tuning_scale="Logarithmic",
    ),
    *_part_hyperparameters("bias", 0.1, 0.01, 0.01),
    *_part_hyperparameters("linear", 0.001, 0.001, 0.01),
    *_part_hyperparameters("factors", 0.0001, 0.00001, 0.001),
    _hp(
        "clip_gradient",
        float,
        None,
        "Clip every gradient element to [-clip_gradient, clip_gradient] (default: no clipping).",
        min=0,
        min_exclusive=True,
    ),
    _hp(
        "eps",
        float,
        None,
        "Adam's epsilon, which keeps its update finite (default: 1e-8).",
        min=0,
        min_exclusive=True,
    ),
    _hp(
        "rescale_grad",
        float,
        None,
        "Multiply every gradient by this before clipping (default: 1; the loss is already "
        "a mean over the mini-batch).",
        min=0,
        min_exclusive=True,
    ),
    _hp("seed", int, 0, "Random seed of the initial weights and the batch order.", min=0),
)


# --- the model, in plain torch (the parity tests use these) -----------------------------------


def empty_network(num_features: int, num_factors: int) -> Any:
    """A ``torch.nn.Module`` holding zeroed parameters ``bias`` (1,), ``linear`` (d,) and
    ``factors`` (d, k): the keys of the saved state_dict."""
    torch = import_torch(NAME)
    module = torch.nn.Module()
    module.bias = torch.nn.Parameter(torch.zeros(1))
    module.linear = torch.nn.Parameter(torch.zeros(num_features))
    module.factors = torch.nn.Parameter(torch.zeros(num_features, num_factors))
    return module


def build_network(hps: Mapping[str, Any], num_features: int) -> Any:
    """The untrained model of validated hyperparameters: bias, linear and factors initialized
    in that order from torch's global generator."""
    torch = import_torch(NAME)
    module = empty_network(num_features, hps["num_factors"])
    with torch.no_grad():
        for part in PARTS:
            tensor, method = getattr(module, part), hps[f"{part}_init_method"]
            if method == "normal":
                torch.nn.init.normal_(tensor, 0.0, hps[f"{part}_init_sigma"])
            elif method == "uniform":
                scale = hps[f"{part}_init_scale"]
                torch.nn.init.uniform_(tensor, -scale, scale)
            else:
                tensor.fill_(hps[f"{part}_init_value"])
    return module


def build_optimizer(hps: Mapping[str, Any], module: Any) -> Any:
    """Adam with one parameter group (learning rate, weight decay) per part."""
    torch = import_torch(NAME)
    groups = [
        {
            "params": [getattr(module, part)],
            "lr": hps[f"{part}_lr"],
            "weight_decay": hps[f"{part}_wd"],
        }
        for part in PARTS
    ]
    return torch.optim.Adam(groups, eps=hps["eps"] if hps["eps"] is not None else 1e-8)


def fm_dense(module: Any, X: Any) -> Any:
    """y (n,) for dense rows X (n, d)."""
    V = module.factors
    xv = X @ V
    pairs = 0.5 * (xv * xv - (X * X) @ (V * V)).sum(dim=1)
    return module.bias + X @ module.linear + pairs


def fm_sparse(module: Any, rows: Any, cols: Any, values: Any, n: int) -> Any:
    """y (n,) for n sparse rows given as the nonzeros' row numbers (0 .. n-1), feature indices
    and values. Only the rows of `factors` that occur are gathered."""
    V = module.factors
    terms = V[cols] * values.unsqueeze(1)  # v_i * x_i, (nonzeros, k)
    xv = V.new_zeros((n, V.shape[1])).index_add(0, rows, terms)
    x2v2 = V.new_zeros((n, V.shape[1])).index_add(0, rows, terms * terms)
    linear = V.new_zeros(n).index_add(0, rows, module.linear[cols] * values)
    return module.bias + linear + 0.5 * (xv * xv - x2v2).sum(dim=1)


class _DenseRows:
    """A dense channel on the device."""

    def __init__(self, torch: Any, X: np.ndarray, device: Any) -> None:
        self.X = float_tensor(torch, X, device)
        self.rows = int(X.shape[0])

    def outputs(self, torch: Any, module: Any, index: Any) -> Any:
        return fm_dense(module, self.X[index])


class _SparseRows:
    """A CSR channel on the device, as index / value tensors; a batch of rows is gathered with
    tensor ops (no scipy call per batch), so it runs on a GPU as well."""

    def __init__(self, torch: Any, X: Any, device: Any) -> None:
        self.indptr = torch.from_numpy(X.indptr.astype(np.int64)).to(device)
        self.indices = torch.from_numpy(X.indices.astype(np.int64)).to(device)
        self.data = torch.from_numpy(np.asarray(X.data, dtype=np.float32)).to(device)
        self.rows = int(X.shape[0])

    def gather(self, torch: Any, index: Any) -> tuple[Any, Any, Any]:
        starts = self.indptr[index]
        lengths = self.indptr[index + 1] - starts
        row = torch.repeat_interleave(torch.arange(index.shape[0], device=index.device), lengths)
        first = torch.cumsum(lengths, 0) - lengths  # where each row starts within the batch
        position = starts[row] + torch.arange(row.shape[0], device=index.device) - first[row]
        return row, self.indices[position], self.data[position]

    def outputs(self, torch: Any, module: Any, index: Any) -> Any:
        row, cols, values = self.gather(torch, index)
        return fm_sparse(module, row, cols, values, int(index.shape[0]))


def _rows(torch: Any, X: Any, device: Any) -> _DenseRows | _SparseRows:
    return _SparseRows(torch, X, device) if hasattr(X, "indptr") else _DenseRows(torch, X, device)


def _all_outputs(torch: Any, module: Any, data: _DenseRows | _SparseRows) -> Any:
    """y for every row of a channel, in chunks, without gradients."""
    device = module.factors.device
    parts = []
    with torch.inference_mode():
        for chunk in batch_slices(data.rows, EVAL_ROWS):
            index = torch.arange(chunk.start, chunk.stop, device=device)
            parts.append(data.outputs(torch, module, index))
    return parts[0] if len(parts) == 1 else torch.cat(parts)


# --- the algorithm ----------------------------------------------------------------------------


class FactorizationMachinesAlgorithm(TorchAlgorithm):
    name = NAME
    description = (
        "Factorization machines (SageMaker's hyperparameters) on PyTorch for binary "
        "classification and regression on sparse, high-dimensional data; trains on a GPU when "
        "there is one."
    )
    problem_types = ("Regression", "BinaryClassification")
    content_types = (CSV, CSV_HEADER, PARQUET, LIBSVM)
    # set here, not through own_hyperparameters: predictor_type has two choices and there is
    # no num_classes, as in SageMaker
    hyperparameters = HYPERPARAMETERS
    metrics = supervised_metrics() + definitions(("loss",), ("train", "validation"))
    artifact = (
        "model.pt: state_dict with bias (1,), linear (d,) and factors (d, k) "
        "(torch.load(path, weights_only=True)); modelyard-model.json: num_features, "
        "num_factors, predictor_type, hyperparameters."
    )

    def validate(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        try:
            return super().validate(raw)
        except InvalidHyperparameters as exc:
            # the generic "expected one of" is right but does not say where to go instead
            if str(raw.get("predictor_type", "")).strip() == MULTICLASS:
                problems = {**exc.problems, "predictor_type": MULTICLASS_MESSAGE}
                raise InvalidHyperparameters(self.name, problems) from None
            raise

    def example_hyperparameters(self, problem_type: str) -> dict[str, Any] | None:
        example = super().example_hyperparameters(problem_type)
        return None if example is None else {**example, "num_factors": 4, "epochs": 5}

    def check_own(self, hps: dict[str, Any], problems: dict[str, str]) -> None:
        for part in PARTS:
            method = hps[f"{part}_init_method"]
            if method == "uniform" and hps[f"{part}_init_scale"] is None:
                problems[f"{part}_init_scale"] = (
                    f"required when {part}_init_method is uniform; give a number >= 0"
                )
            if method == "constant" and hps[f"{part}_init_value"] is None:
                problems[f"{part}_init_value"] = (
                    f"required when {part}_init_method is constant; give a number"
                )

    # --- training ------------------------------------------------------------------------------

    def fit_torch(
        self,
        torch: Any,
        hps: dict[str, Any],
        train: ChannelData,
        validation: ChannelData | None,
        ctx: TrainingContext,
    ) -> Any:
        kind = hps["predictor_type"]
        rows, num_features = train.X.shape
        assert train.y is not None
        device = choose_device(torch, ctx.log)
        generator = seeded(torch, hps["seed"])
        module = build_network(hps, num_features).to(device)
        optimizer = build_optimizer(hps, module)
        parameters = [getattr(module, part) for part in PARTS]
        loss_fn = torch.nn.MSELoss() if kind == REGRESSOR else torch.nn.BCEWithLogitsLoss()
        data = _rows(torch, train.X, device)
        y = torch.from_numpy(np.asarray(train.y, dtype=np.float32)).to(device)
        sparse = isinstance(data, _SparseRows)
        ctx.log(
            f"factorization-machines: {num_features} features x {hps['num_factors']} factors, "
            f"{'sparse' if sparse else 'dense'} input"
            + (f" ({train.X.nnz / max(rows, 1):.1f} nonzeros per row)" if sparse else "")
            + f", {hps['epochs']} epoch(s) of {hps['mini_batch_size']}-row batches"
        )
        val_data = val_y = None
        if validation is not None:
            assert validation.y is not None
            val_data = _rows(torch, validation.X, device)
            val_y = torch.from_numpy(
                validation.y.astype(np.float64 if kind == REGRESSOR else np.int64)
            ).to(device)
        rescale, clip = hps["rescale_grad"], hps["clip_gradient"]

        for epoch in range(hps["epochs"]):
            started = time.perf_counter()
            order = epoch_order(torch, rows, generator, device)
            total = torch.zeros((), device=device)
            for batch in batch_slices(rows, hps["mini_batch_size"]):
                index = order[batch]
                optimizer.zero_grad(set_to_none=True)
                loss = loss_fn(data.outputs(torch, module, index), y[index])
                loss.backward()
                if rescale is not None:
                    for p in parameters:
                        p.grad.mul_(rescale)
                if clip is not None:
                    for p in parameters:
                        p.grad.clamp_(-clip, clip)
                optimizer.step()  # Adam adds weight_decay * weight to the gradient first
                total += loss.detach() * index.shape[0]  # summed on the device: no sync
            values = {"train:loss": float(total) / rows}
            if val_data is not None:
                outputs = _all_outputs(torch, module, val_data)
                found = epoch_metrics(torch, kind, outputs, val_y)
                values.update({f"validation:{name}": value for name, value in found.items()})
            report_epoch(ctx, epoch, hps["epochs"], values, time.perf_counter() - started)
        return module.eval()

    # --- the model -----------------------------------------------------------------------------

    def model_outputs(self, fitted: Any, X: Any, sm: SupervisedModel) -> np.ndarray:
        torch = import_torch(self.name)
        if (
            isinstance(X, np.ndarray)
            and X.shape[1] >= SPARSE_SERVING_MIN_FEATURES
            and np.count_nonzero(X) <= SPARSE_SERVING_MAX_DENSITY * X.size
        ):
            import scipy.sparse as sp

            X = sp.csr_matrix(X)
        data = _rows(torch, X, fitted.factors.device)
        y = _all_outputs(torch, fitted, data).double().cpu()
        if sm.predictor_type == REGRESSOR:
            return y.numpy()
        p = torch.sigmoid(y)
        return torch.stack([1 - p, p], dim=1).numpy()

    def save_model(self, fitted: Any, model_dir: Path) -> None:
        save_state(import_torch(self.name), fitted, model_dir / MODEL_FILE)

    def metadata(self, fitted: Any) -> dict[str, Any]:
        torch = import_torch(self.name)
        return {"num_factors": int(fitted.factors.shape[1]), "torch_version": torch.__version__}

    def load_model(self, model_dir: Path, meta: dict[str, Any]) -> Any:
        torch = import_torch(self.name)
        state = load_state(torch, model_dir / MODEL_FILE)
        factors = state.get("factors")
        if factors is None or factors.ndim != 2:
            raise InvalidRequest(
                f"{model_dir}/{MODEL_FILE} holds no factorization-machines state_dict",
                {"path": str(model_dir)},
            )
        module = empty_network(int(factors.shape[0]), int(factors.shape[1]))
        module.load_state_dict(state)
        return module.eval()


ALGORITHM = FactorizationMachinesAlgorithm()

__all__ = [
    "ALGORITHM",
    "FactorizationMachinesAlgorithm",
    "build_network",
    "build_optimizer",
    "empty_network",
    "fm_dense",
    "fm_sparse",
]
