"""What the PyTorch built-ins (`mlp`, `factorization-machines`) share.

PyTorch is an optional dependency (the ``modelyard[pytorch]`` extra). The algorithm modules
import this one when the catalog lists them, so nothing here imports torch at import time:
`import_torch` does, inside the training and serving paths, and turns a missing install into
a clear error. The other helpers take the torch module as their first argument for that
reason.

Training conventions both algorithms follow, so that a hand-written plain-torch loop with the
same seed reproduces a model exactly (the parity tests do that):

- `seeded` seeds torch's global generator (weight initialization, dropout) and returns a
  separate CPU ``torch.Generator`` that only draws the order of the rows, one
  ``torch.randperm`` per epoch;
- mini-batches are consecutive slices of that permutation (`batch_slices`), the last one
  shorter; no DataLoader, whose per-row overhead dominates on small tabular models;
- the loss is the mean over the mini-batch.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from modelyard.algorithms.base import TrainingContext
from modelyard.algorithms.data import ChannelData
from modelyard.algorithms.supervised import BINARY, REGRESSOR, SupervisedAlgorithm
from modelyard.errors import InvalidRequest

PYTORCH_INSTALL = "pip install 'modelyard[pytorch]'"
MODEL_FILE = "model.pt"
EVAL_ROWS = 65_536  # rows per forward pass when scoring a whole channel: bounds memory


def import_torch(algorithm: str) -> Any:
    """The torch module, or a clear error naming the extra to install."""
    try:
        import torch
    except ImportError:
        raise InvalidRequest(
            f"the {algorithm} algorithm needs PyTorch: {PYTORCH_INSTALL}",
            {"algorithm": algorithm, "missing": "torch", "install": PYTORCH_INSTALL},
        ) from None
    return torch


def choose_device(torch: Any, log: Callable[[str], None]) -> Any:
    """The first CUDA GPU when there is one, else the CPU; says which in the log."""
    if torch.cuda.is_available():
        device = torch.device("cuda")
        log(
            f"training on the GPU: {torch.cuda.get_device_name(device)} (torch {torch.__version__})"
        )
        return device
    threads = torch.get_num_threads()
    log(
        f"training on the CPU with {threads} thread{'' if threads == 1 else 's'} "
        f"(torch {torch.__version__})"
    )
    return torch.device("cpu")


@contextmanager
def training_threads(torch: Any, num_cpus: int) -> Iterator[None]:
    """Use the job's CPU count for intra-op parallelism while training, then restore the
    previous setting (the thread count is process-wide)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(max(1, int(num_cpus)))
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def seeded(torch: Any, seed: int) -> Any:
    """Seed the global generator and return the generator of the row order (see the module
    docstring). A separate generator keeps the batches the same whatever the network draws."""
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def epoch_order(torch: Any, rows: int, generator: Any, device: Any) -> Any:
    """This epoch's row order: drawn on the CPU, so that it is the same on every device."""
    return torch.randperm(rows, generator=generator).to(device)


def batch_slices(rows: int, batch_size: int) -> Iterator[slice]:
    for start in range(0, rows, batch_size):
        yield slice(start, min(start + batch_size, rows))


def check_finite(algorithm: str, channel: str, X: Any) -> None:
    """Reject missing or infinite feature values: one NaN would turn every weight into NaN."""
    values = X.data if hasattr(X, "indptr") else X
    if not np.isfinite(values).all():
        bad = int(np.size(values) - np.count_nonzero(np.isfinite(values)))
        raise InvalidRequest(
            f"channel {channel!r}: {bad} feature value(s) are missing or infinite; {algorithm} "
            "needs every value to be a finite number (fill in or drop those rows first)",
            {"channel": channel, "bad_values": bad},
        )


def float_tensor(torch: Any, X: np.ndarray, device: Any) -> Any:
    """A float32 tensor of a dense array, sharing memory where it can (the usual case)."""
    array = np.ascontiguousarray(X, dtype=np.float32)
    if not array.flags.writeable:  # e.g. a request body read with np.frombuffer
        array = array.copy()
    return torch.from_numpy(array).to(device)


def save_state(torch: Any, module: Any, path: Path) -> None:
    """Save a state_dict of CPU tensors: loadable by ``torch.load(path, weights_only=True)``
    on a machine without a GPU."""
    state = {name: tensor.detach().cpu() for name, tensor in module.state_dict().items()}
    torch.save(state, path)


def load_state(torch: Any, path: Path) -> Mapping[str, Any]:
    if not path.is_file():
        raise InvalidRequest(f"no {path.name} in {path.parent}", {"path": str(path.parent)})
    return torch.load(path, map_location="cpu", weights_only=True)


def epoch_metrics(torch: Any, kind: str, outputs: Any, y: Any) -> dict[str, float]:
    """The per-epoch validation metrics, from a whole channel's outputs on the device:
    predictions (regressor), logits (n,) (binary) or logits (n, k) (multiclass)."""
    functional = torch.nn.functional
    if kind == REGRESSOR:
        mse = float(torch.mean((outputs.double() - y.double()) ** 2))
        return {"loss": mse, "rmse": mse**0.5}
    if kind == BINARY:
        loss = float(functional.binary_cross_entropy_with_logits(outputs.double(), y.double()))
        accuracy = float(((outputs > 0).long() == y).double().mean())
    else:
        loss = float(functional.cross_entropy(outputs.double(), y))
        accuracy = float((outputs.argmax(dim=1) == y).double().mean())
    return {"loss": loss, "log_loss": loss, "accuracy": accuracy}


def report_epoch(
    ctx: TrainingContext, epoch: int, epochs: int, values: dict[str, float], seconds: float
) -> None:
    """Report `channel:metric` values with step=epoch and log one readable line."""
    for name, value in values.items():
        ctx.report_metric(name, value, epoch)
    parts = " ".join(f"{name}={value:.6g}" for name, value in values.items())
    ctx.log(f"epoch {epoch + 1}/{epochs}: {parts} ({seconds:.2f} s)")


class TorchAlgorithm(SupervisedAlgorithm):
    """A supervised built-in trained by a PyTorch loop: torch is imported only to train (the
    catalog lists the algorithm without it), rows with NaN or infinity are refused, and the
    loop runs on the job's CPUs."""

    def fit_model(
        self,
        hps: dict[str, Any],
        train: ChannelData,
        others: dict[str, ChannelData],
        ctx: TrainingContext,
    ) -> Any:
        torch = import_torch(self.name)
        for channel, data in {"train": train, **others}.items():
            check_finite(self.name, channel, data.X)
        with training_threads(torch, ctx.num_cpus):
            return self.fit_torch(torch, hps, train, others.get("validation"), ctx)

    @abstractmethod
    def fit_torch(
        self,
        torch: Any,
        hps: dict[str, Any],
        train: ChannelData,
        validation: ChannelData | None,
        ctx: TrainingContext,
    ) -> Any:
        """The training loop; returns what save_model saves."""
