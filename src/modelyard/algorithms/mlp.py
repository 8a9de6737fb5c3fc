"""The built-in `mlp` algorithm: a feed-forward neural network on PyTorch, for regression,
binary and multiclass classification.

The network is ``Linear -> activation [-> Dropout]`` per hidden layer (`hidden_units`, e.g.
``128,64``), then a ``Linear`` output layer: one output for a regressor (squared loss) or a
binary classifier (logistic loss on the logit), `num_classes` outputs for a multiclass
classifier (softmax cross-entropy). It trains with Adam, AdamW or SGD (with momentum) on
mini-batches of a seeded permutation of the rows, on the first CUDA GPU when there is one,
else on the CPU with the job's CPU count as threads. A fixed `seed` gives the same model on
the same device.

`normalize_data` standardizes every feature (mean 0, standard deviation 1 over the training
rows; a constant feature is only centred) and `normalize_label` standardizes a regressor's
label; both transforms are part of the model and applied when it predicts. With a
`validation` channel, `early_stopping_patience` stops after that many epochs without a lower
validation loss and keeps the best epoch's weights.

Metrics: ``train:loss`` every epoch (the objective over the epoch's mini-batches, in the
label's units for a regressor: the MSE); with a validation channel, every epoch,
``validation:loss`` and ``validation:rmse`` (regressor) or ``validation:log_loss`` and
``validation:accuracy`` (classifiers); step = epoch, counted from 0. After training, the
shared supervised metrics (``rmse``, ``r2``, ``accuracy``, ``auc``, ``log_loss`` ...) of the
kept model on every channel (step None).

Artifacts in the model directory:

- ``model.pt``: the network's state_dict (CPU tensors) saved with ``torch.save``, loadable
  with ``torch.load(path, weights_only=True)``;
- ``modelyard-model.json``: besides algorithm, num_features, predictor_type, num_classes and
  the hyperparameters, ``architecture`` (num_features, num_outputs, hidden_units, activation,
  dropout) from which `build_network` rebuilds the ``torch.nn.Sequential`` that state_dict
  belongs to, and ``normalization`` (x_mean and x_scale per feature or null, y_mean and
  y_scale). Without modelyard: ``net = build_network(architecture, ...)``,
  ``net.load_state_dict(torch.load("model.pt", weights_only=True))``, then
  ``net((x - x_mean) / x_scale) * y_scale + y_mean`` (a logit for binary, logits for
  multiclass).

Served answers are linear-learner's (see `modelyard.algorithms.supervised`); the model is
loaded on the CPU, in eval mode, and predicts under ``torch.inference_mode``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from modelyard.algorithms.base import Hyperparameter, TrainingContext
from modelyard.algorithms.data import ChannelData
from modelyard.algorithms.metrics import definitions
from modelyard.algorithms.supervised import (
    BINARY,
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
from modelyard.errors import InvalidRequest

NAME = "mlp"
ACTIVATIONS = ("relu", "tanh", "sigmoid", "gelu")
OPTIMIZERS = ("adam", "adamw", "sgd")
MAX_LAYERS = 16
MAX_UNITS = 65_536

HIDDEN_UNITS_ALLOWED = (
    f"comma-separated whole numbers of units per hidden layer, each 1 .. {MAX_UNITS}, at most "
    f"{MAX_LAYERS} layers (e.g. 64,32)"
)


def parse_hidden_units(value: str | Sequence[int]) -> list[int]:
    """``"64, 32"`` -> [64, 32]; ValueError for anything else (see HIDDEN_UNITS_ALLOWED)."""
    if isinstance(value, str):
        parts = [p.strip() for p in value.split(",")]
        if not all(p.isdigit() for p in parts):  # also rejects "", "-3", "1.5", "64,"
            raise ValueError(value)
        units = [int(p) for p in parts]
    else:
        units = [int(u) for u in value]
    if not units or len(units) > MAX_LAYERS or any(u < 1 or u > MAX_UNITS for u in units):
        raise ValueError(value)
    return units


def build_network(hps: Mapping[str, Any], num_features: int, num_outputs: int) -> Any:
    """The untrained ``torch.nn.Sequential`` for `hidden_units`, `activation` and `dropout`
    (validated hyperparameters, or the saved architecture). Its weights are drawn from torch's
    global generator, as ``torch.nn.Linear`` draws them."""
    torch = import_torch(NAME)
    nn = torch.nn
    activation = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "gelu": nn.GELU}[
        hps["activation"]
    ]
    layers: list[Any] = []
    width = num_features
    for units in parse_hidden_units(hps["hidden_units"]):
        layers += [nn.Linear(width, units), activation()]
        if hps["dropout"] > 0:
            layers.append(nn.Dropout(hps["dropout"]))
        width = units
    layers.append(nn.Linear(width, num_outputs))
    return nn.Sequential(*layers)


def build_optimizer(hps: Mapping[str, Any], parameters: Any) -> Any:
    """The torch optimizer of validated hyperparameters."""
    torch = import_torch(NAME)
    lr, wd = hps["learning_rate"], hps["weight_decay"]
    if hps["optimizer"] == "sgd":
        return torch.optim.SGD(parameters, lr=lr, momentum=hps["momentum"], weight_decay=wd)
    if hps["optimizer"] == "adamw":
        return torch.optim.AdamW(parameters, lr=lr, weight_decay=wd)
    return torch.optim.Adam(parameters, lr=lr, weight_decay=wd)


def num_outputs(predictor_type: str, num_classes: int | None) -> int:
    """One output (a value or a logit) except for multiclass: one logit per class."""
    return int(num_classes or 0) if predictor_type == MULTICLASS else 1


def standardization(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature mean and scale (population standard deviation; 1 for a constant feature)
    as float32, accumulated in float64."""
    mean = X.mean(axis=0, dtype=np.float64)
    scale = X.std(axis=0, dtype=np.float64)
    scale[scale == 0] = 1.0
    return mean.astype(np.float32), scale.astype(np.float32)


@dataclass
class MLPModel:
    """A trained network and the transforms around it (what fit_model and load_model give)."""

    network: Any  # torch.nn.Sequential, in eval mode
    architecture: dict[str, Any]
    x_mean: Any  # float32 tensors on the network's device, or None (no normalize_data)
    x_scale: Any
    y_mean: float
    y_scale: float
    epochs_trained: int = 0
    best_epoch: int | None = None

    def normalization(self) -> dict[str, Any]:
        return {
            "x_mean": None if self.x_mean is None else self.x_mean.cpu().tolist(),
            "x_scale": None if self.x_scale is None else self.x_scale.cpu().tolist(),
            "y_mean": self.y_mean,
            "y_scale": self.y_scale,
        }

    def raw_outputs(self, torch: Any, X: np.ndarray) -> Any:
        """The network's outputs (n, num_outputs) for dense rows, in float32, on the CPU."""
        device = next(self.network.parameters()).device
        chunks = []
        with torch.inference_mode():
            for rows in batch_slices(X.shape[0], EVAL_ROWS):
                xb = float_tensor(torch, X[rows], device)
                if self.x_mean is not None:
                    xb = (xb - self.x_mean) / self.x_scale
                chunks.append(self.network(xb).cpu())
        return chunks[0] if len(chunks) == 1 else torch.cat(chunks)


def _hp(name: str, type_: type, default: Any, help: str, **kw: Any) -> Hyperparameter:
    return Hyperparameter(name=name, type=type_, default=default, help=help, **kw)


HYPERPARAMETERS: tuple[Hyperparameter, ...] = (
    _hp(
        "hidden_units",
        str,
        "64,64",
        "Units of each hidden layer, comma-separated, input side first (e.g. 128,64).",
        tuning_range=("32", "64", "128", "64,64", "128,64", "256,128", "128,128,64"),
    ),
    _hp(
        "activation",
        str,
        "relu",
        "Activation after each hidden layer.",
        choices=ACTIVATIONS,
        tuning_range=ACTIVATIONS,
    ),
    _hp("epochs", int, 20, "Passes over the training data.", min=1, tuning_range=(5, 100)),
    _hp(
        "mini_batch_size",
        int,
        128,
        "Rows per gradient step.",
        min=1,
        tuning_range=(16, 1024),
        tuning_scale="Logarithmic",
    ),
    _hp(
        "learning_rate",
        float,
        0.001,
        "Step size of the optimizer.",
        min=0,
        min_exclusive=True,
        tuning_range=(1e-4, 0.1),
        tuning_scale="Logarithmic",
    ),
    _hp(
        "optimizer",
        str,
        "adam",
        "adam, adamw (decoupled weight decay) or sgd (with momentum).",
        choices=OPTIMIZERS,
        tuning_range=OPTIMIZERS,
    ),
    _hp(
        "momentum",
        float,
        0.9,
        "Momentum of sgd, in [0, 1) (the other optimizers ignore it).",
        min=0,
        max=1,
        tuning_range=(0.0, 0.99),
    ),
    _hp(
        "weight_decay",
        float,
        0.0,
        "L2 penalty (adam, sgd) or decoupled weight decay (adamw).",
        min=0,
        tuning_range=(1e-7, 0.01),
        tuning_scale="Logarithmic",
    ),
    _hp(
        "dropout",
        float,
        0.0,
        "Fraction of each hidden layer's outputs zeroed while training, in [0, 1).",
        min=0,
        max=1,
        tuning_range=(0.0, 0.5),
    ),
    _hp(
        "normalize_data",
        bool,
        True,
        "Standardize every feature with the training rows' mean and standard deviation.",
    ),
    _hp(
        "normalize_label",
        bool,
        True,
        "Regressors: train on the standardized label (predictions are on the original scale).",
    ),
    _hp(
        "early_stopping_patience",
        int,
        None,
        "Stop after this many epochs without a lower validation loss and keep the best "
        "epoch's weights (needs a validation channel; default: run every epoch).",
        min=1,
    ),
    _hp("seed", int, 0, "Random seed of the initial weights, dropout and batch order.", min=0),
)


class MLPAlgorithm(TorchAlgorithm):
    name = NAME
    description = (
        "A feed-forward neural network (multilayer perceptron) on PyTorch for regression, "
        "binary and multiclass classification; trains on a GPU when there is one."
    )
    own_hyperparameters = HYPERPARAMETERS
    metrics = supervised_metrics() + definitions(("loss",), ("train", "validation"))
    artifact = (
        "model.pt: the network's state_dict (torch.load(path, weights_only=True)); "
        "modelyard-model.json: architecture (for mlp.build_network), normalization "
        "(x_mean, x_scale, y_mean, y_scale), predictor_type, num_classes, hyperparameters."
    )

    def check_own(self, hps: dict[str, Any], problems: dict[str, str]) -> None:
        try:
            parse_hidden_units(hps["hidden_units"])
        except ValueError:
            problems["hidden_units"] = (
                f"got {hps['hidden_units']!r}; expected {HIDDEN_UNITS_ALLOWED}"
            )
        if hps["momentum"] >= 1:
            problems["momentum"] = f"got {hps['momentum']}; expected a number >= 0 and < 1"
        if hps["dropout"] >= 1:
            problems["dropout"] = f"got {hps['dropout']}; expected a number >= 0 and < 1"

    # --- training ------------------------------------------------------------------------------

    def fit_torch(
        self,
        torch: Any,
        hps: dict[str, Any],
        train: ChannelData,
        validation: ChannelData | None,
        ctx: TrainingContext,
    ) -> MLPModel:
        kind = hps["predictor_type"]
        rows, num_features = train.X.shape
        assert train.y is not None
        device = choose_device(torch, ctx.log)
        generator = seeded(torch, hps["seed"])

        x_mean = x_scale = None
        if hps["normalize_data"]:
            mean, scale = standardization(train.X)
            x_mean, x_scale = torch.from_numpy(mean).to(device), torch.from_numpy(scale).to(device)
        y_mean, y_scale = 0.0, 1.0
        if kind == REGRESSOR and hps["normalize_label"]:
            y_mean = float(np.mean(train.y, dtype=np.float64))
            y_scale = float(np.std(train.y, dtype=np.float64)) or 1.0

        def features(X: np.ndarray) -> Any:
            tensor = float_tensor(torch, X, device)
            return tensor if x_mean is None else (tensor - x_mean) / x_scale

        def targets(y: np.ndarray) -> Any:
            if kind == MULTICLASS:
                return torch.from_numpy(y.astype(np.int64)).to(device)
            values = (np.asarray(y, dtype=np.float64) - y_mean) / y_scale
            return torch.from_numpy(values.astype(np.float32)).to(device)

        X, y = features(train.X), targets(train.y)
        outputs = num_outputs(kind, self.num_classes(hps))
        architecture = {
            "num_features": num_features,
            "num_outputs": outputs,
            "hidden_units": parse_hidden_units(hps["hidden_units"]),
            "activation": hps["activation"],
            "dropout": hps["dropout"],
        }
        network = build_network(architecture, num_features, outputs).to(device)
        optimizer = build_optimizer(hps, network.parameters())
        loss_fn = {
            REGRESSOR: torch.nn.MSELoss(),
            BINARY: torch.nn.BCEWithLogitsLoss(),
            MULTICLASS: torch.nn.CrossEntropyLoss(),
        }[kind]
        squeeze = kind != MULTICLASS
        ctx.log(
            f"mlp: layers {num_features} -> "
            + " -> ".join(str(u) for u in architecture["hidden_units"])
            + f" -> {outputs} ({sum(p.numel() for p in network.parameters())} weights), "
            f"{hps['optimizer']}, {hps['epochs']} epochs of {hps['mini_batch_size']}-row batches"
        )

        val_X = val_y = None
        if validation is not None:
            assert validation.y is not None
            val_X = features(validation.X)
            # metrics are in the label's units: compare raw labels with de-normalized outputs
            val_y = (
                torch.from_numpy(validation.y.astype(np.float64)).to(device)
                if kind == REGRESSOR
                else torch.from_numpy(validation.y.astype(np.int64)).to(device)
            )
        patience = hps["early_stopping_patience"]
        if patience is not None and validation is None:
            ctx.log("early_stopping_patience ignored: there is no validation channel")
            patience = None

        best_loss, best_epoch, best_state, waited = float("inf"), None, None, 0
        epochs_trained = 0
        loss_units = y_scale**2 if kind == REGRESSOR else 1.0  # train:loss in label units
        for epoch in range(hps["epochs"]):
            started = time.perf_counter()
            network.train()
            order = epoch_order(torch, rows, generator, device)
            X_epoch, y_epoch = X[order], y[order]  # one gather per epoch, then cheap slices
            total = torch.zeros((), device=device)
            for batch in batch_slices(rows, hps["mini_batch_size"]):
                xb, yb = X_epoch[batch], y_epoch[batch]
                optimizer.zero_grad(set_to_none=True)
                out = network(xb)
                loss = loss_fn(out.squeeze(-1) if squeeze else out, yb)
                loss.backward()
                optimizer.step()
                total += loss.detach() * xb.shape[0]  # summed on the device: no sync per batch
            epochs_trained = epoch + 1
            values = {"train:loss": float(total) / rows * loss_units}
            if val_X is not None:
                network.eval()
                scores = self._device_outputs(torch, network, val_X, kind, y_mean, y_scale)
                found = epoch_metrics(torch, kind, scores, val_y)
                values.update({f"validation:{name}": value for name, value in found.items()})
                if found["loss"] < best_loss:
                    best_loss, best_epoch, waited = found["loss"], epoch, 0
                    if patience is not None:
                        best_state = {k: v.clone() for k, v in network.state_dict().items()}
                else:
                    waited += 1
            report_epoch(ctx, epoch, hps["epochs"], values, time.perf_counter() - started)
            if patience is not None and waited >= patience:
                ctx.log(
                    f"early stopping: no lower validation loss for {patience} epoch(s); keeping "
                    f"epoch {best_epoch + 1 if best_epoch is not None else '-'}"
                )
                break
        if best_state is not None:
            network.load_state_dict(best_state)
        network.eval()
        return MLPModel(
            network,
            architecture,
            x_mean,
            x_scale,
            y_mean,
            y_scale,
            epochs_trained,
            best_epoch if patience is not None else None,
        )

    @staticmethod
    def _device_outputs(
        torch: Any, network: Any, X: Any, kind: str, y_mean: float, y_scale: float
    ) -> Any:
        """Outputs of normalized rows already on the device: predictions in the label's units
        (float64) for a regressor, logits for a classifier."""
        with torch.inference_mode():
            parts = [network(X[rows]) for rows in batch_slices(X.shape[0], EVAL_ROWS)]
        out = torch.cat(parts)
        if kind == MULTICLASS:
            return out
        out = out.squeeze(-1)
        return out.double() * y_scale + y_mean if kind == REGRESSOR else out

    # --- the model -----------------------------------------------------------------------------

    def model_outputs(self, fitted: MLPModel, X: Any, sm: SupervisedModel) -> np.ndarray:
        torch = import_torch(self.name)
        out = fitted.raw_outputs(torch, np.asarray(X, dtype=np.float32)).double()
        if sm.predictor_type == REGRESSOR:
            return (out[:, 0] * fitted.y_scale + fitted.y_mean).numpy()
        if sm.predictor_type == BINARY:
            p = torch.sigmoid(out[:, 0])
            return torch.stack([1 - p, p], dim=1).numpy()
        return torch.softmax(out, dim=1).numpy()

    def save_model(self, fitted: MLPModel, model_dir: Path) -> None:
        save_state(import_torch(self.name), fitted.network, model_dir / MODEL_FILE)

    def metadata(self, fitted: MLPModel) -> dict[str, Any]:
        torch = import_torch(self.name)
        return {
            "architecture": fitted.architecture,
            "normalization": fitted.normalization(),
            "epochs_trained": fitted.epochs_trained,
            "best_epoch": fitted.best_epoch,
            "torch_version": torch.__version__,
        }

    def load_model(self, model_dir: Path, meta: dict[str, Any]) -> MLPModel:
        torch = import_torch(self.name)
        architecture, norm = meta.get("architecture"), meta.get("normalization")
        if not isinstance(architecture, dict) or not isinstance(norm, dict):
            raise InvalidRequest(
                f"{model_dir}: modelyard-model.json lacks the mlp architecture or normalization",
                {"path": str(model_dir)},
            )
        network = build_network(
            architecture, int(architecture["num_features"]), int(architecture["num_outputs"])
        )
        network.load_state_dict(load_state(torch, model_dir / MODEL_FILE))
        network.eval()

        def tensor(values: list[float] | None) -> Any:
            return None if values is None else torch.tensor(values, dtype=torch.float32)

        return MLPModel(
            network,
            architecture,
            tensor(norm.get("x_mean")),
            tensor(norm.get("x_scale")),
            float(norm.get("y_mean", 0.0)),
            float(norm.get("y_scale", 1.0)),
            int(meta.get("epochs_trained") or 0),
            meta.get("best_epoch"),
        )


ALGORITHM = MLPAlgorithm()

__all__ = [
    "ALGORITHM",
    "MLPAlgorithm",
    "MLPModel",
    "build_network",
    "build_optimizer",
    "parse_hidden_units",
    "standardization",
]
