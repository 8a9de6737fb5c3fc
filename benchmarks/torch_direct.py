"""The plain-torch training loops algo_direct.py runs for mlp and factorization-machines: what a
user writes by hand for the same model (the loops the parity tests compare against), on a
binary-classification channel, saving a state_dict."""

from __future__ import annotations

from typing import Any

import numpy as np

THREADS = 2


def fit_torch(name: str, X: np.ndarray, y: np.ndarray | None, p: dict[str, Any], out: str) -> None:
    import torch

    assert y is not None
    torch.set_num_threads(THREADS)
    torch.manual_seed(p["seed"])
    order = torch.Generator().manual_seed(p["seed"])
    targets = torch.from_numpy(y.astype(np.float32))
    loss_fn = torch.nn.BCEWithLogitsLoss()
    if name == "mlp":
        from modelyard.algorithms.mlp import build_network  # the same layers, built once

        mean = X.mean(axis=0, dtype=np.float64).astype(np.float32)
        scale = X.std(axis=0, dtype=np.float64).astype(np.float32)
        scale[scale == 0] = 1
        features = (torch.from_numpy(np.ascontiguousarray(X)) - torch.from_numpy(mean)) / (
            torch.from_numpy(scale)
        )
        net = build_network(p, X.shape[1], 1)
        opt = torch.optim.Adam(net.parameters(), lr=p["learning_rate"])
        for _ in range(p["epochs"]):
            net.train()
            perm = torch.randperm(len(X), generator=order)
            for start in range(0, len(X), p["mini_batch_size"]):
                idx = perm[start : start + p["mini_batch_size"]]
                opt.zero_grad()
                loss_fn(net(features[idx]).squeeze(-1), targets[idx]).backward()
                opt.step()
        torch.save(net.state_dict(), f"{out}/model.pt")
        return
    # factorization machines on dense rows: bias, linear and factor terms, Adam per part
    d, k = X.shape[1], p["num_factors"]
    params = {"bias": torch.zeros(1), "linear": torch.zeros(d), "factors": torch.zeros(d, k)}
    for part, tensor in params.items():
        method = p[f"{part}_init_method"]
        if method == "normal":
            tensor.normal_(0, p[f"{part}_init_sigma"])
        else:
            tensor.fill_(p[f"{part}_init_value"])
        tensor.requires_grad_(True)
    opt = torch.optim.Adam(
        [
            {"params": [t], "lr": p[f"{part}_lr"], "weight_decay": p[f"{part}_wd"]}
            for part, t in params.items()
        ],
        eps=1e-8,
    )
    b, w, V = params["bias"], params["linear"], params["factors"]
    dense = torch.from_numpy(np.ascontiguousarray(X))
    for _ in range(p["epochs"]):
        perm = torch.randperm(X.shape[0], generator=order)
        for start in range(0, X.shape[0], p["mini_batch_size"]):
            idx = perm[start : start + p["mini_batch_size"]]
            xb = dense[idx]
            xv = xb @ V
            out_ = b + xb @ w + 0.5 * (xv * xv - (xb * xb) @ (V * V)).sum(1)
            opt.zero_grad()
            loss_fn(out_, targets[idx]).backward()
            opt.step()
    torch.save({n: t.detach() for n, t in params.items()}, f"{out}/model.pt")
