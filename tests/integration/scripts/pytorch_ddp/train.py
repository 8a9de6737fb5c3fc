"""A PyTorch DistributedDataParallel script in the style of SageMaker's examples."""

import argparse
import json
import os

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel


def model_fn(model_dir):
    model = torch.nn.Linear(10, 1)
    model.load_state_dict(torch.load(os.path.join(model_dir, "model.pth")))
    return model.eval()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--hosts", type=list, default=json.loads(os.environ["SM_HOSTS"]))
    parser.add_argument("--current-host", type=str, default=os.environ["SM_CURRENT_HOST"])
    parser.add_argument("--model-dir", type=str, default=os.environ["SM_MODEL_DIR"])
    args = parser.parse_args()

    dist.init_process_group(backend="gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    torch.manual_seed(0)  # the same initial weights everywhere
    model = DistributedDataParallel(torch.nn.Linear(10, 1))
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr)
    data = torch.Generator().manual_seed(rank)  # each rank sees different data
    for epoch in range(args.epochs):
        features = torch.randn(64, 10, generator=data)
        target = features.sum(dim=1, keepdim=True)
        optimizer.zero_grad()
        loss = torch.nn.functional.mse_loss(model(features), target)
        loss.backward()  # gradients are averaged across the hosts here
        optimizer.step()
        print(f"rank {rank} epoch {epoch} loss {loss.item():.4f}", flush=True)
    checksum = sum(float(p.detach().sum()) for p in model.parameters())
    print(f"host {args.current_host} rank {rank}/{world} checksum {checksum:.6f}", flush=True)
    if rank == 0:
        torch.save(model.module.state_dict(), os.path.join(args.model_dir, "model.pth"))
    else:
        with open(os.path.join(args.model_dir, "not-kept.txt"), "w") as handle:
            handle.write("only the first host's model is kept")
    # Every rank reaches here before any tears its connections down: a rank that leaves
    # while its peer is still inside gloo can abort that peer.
    dist.barrier()
    dist.destroy_process_group()
