"""Distributed data-parallel training as a launcher script runs it (torchrun); single process when not launched."""

import os

import torch
import torch.distributed as dist
import torch.nn as nn
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.utils.data import DataLoader, TensorDataset
from torch.utils.data.distributed import DistributedSampler


def setup():
    if "RANK" in os.environ:
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend=backend)
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def main():
    rank, world = setup()
    torch.manual_seed(0)
    device = torch.device(f"cuda:{rank}" if torch.cuda.is_available() else "cpu")
    model = nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Linear(32, 1)).to(device)
    if world > 1:
        model = DDP(model, device_ids=[rank] if device.type == "cuda" else None)
    data = TensorDataset(torch.randn(512, 10), torch.randn(512, 1))
    sampler = DistributedSampler(data, num_replicas=world, rank=rank, shuffle=True) if world > 1 else None
    loader = DataLoader(data, batch_size=32, sampler=sampler, shuffle=sampler is None)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    for epoch in range(2):
        if sampler is not None:
            sampler.set_epoch(epoch)
        for x, y in loader:
            opt.zero_grad()
            loss = nn.functional.mse_loss(model(x.to(device)), y.to(device))
            loss.backward()
            opt.step()
        if world > 1:
            t = loss.detach().clone()
            dist.all_reduce(t, op=dist.ReduceOp.SUM)
            loss = t / world
        if rank == 0:
            print(epoch, loss.item())
    if rank == 0:
        torch.save(model.state_dict(), "ddp_model.pt")
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
