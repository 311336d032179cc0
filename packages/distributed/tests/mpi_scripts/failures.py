"""A rank that dies, hangs or raises mid-training; run under ``mpiexec -n N``.

``python failures.py MODE`` with MODE ``kill`` (rank 1 SIGKILLs itself), ``hang`` (rank 1
stops itself with SIGSTOP: alive but never answering) or ``raise`` (rank 1 raises). The
process-group timeout is ``PG_TIMEOUT`` seconds. The test around this script checks
that the job ends, non-zero, well within the timeout plus a margin, and says why.
"""

from __future__ import annotations

import os
import signal
import sys
from datetime import timedelta

import plugrad
import plugrad.distributed as dist
from plugrad import nn, optim
from plugrad.nn.parallel import DistributedDataParallel as DDP

mode = sys.argv[1]
dist.init_process_group("mpi", timeout=timedelta(seconds=float(os.environ.get("PG_TIMEOUT", "5"))))
R = dist.get_rank()
plugrad.manual_seed(0)
model = DDP(nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1)))
opt = optim.SGD(model.parameters(), lr=0.1)
for step in range(1000):
    if step == 3 and R == 1:
        print(f"rank 1: {mode} at step {step}", flush=True)
        if mode == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        elif mode == "hang":
            os.kill(os.getpid(), signal.SIGSTOP)
        elif mode == "raise":
            raise ValueError("boom from rank 1 at step 3")
    opt.zero_grad()
    nn.functional.mse_loss(model(plugrad.randn(4, 4)), plugrad.randn(4, 1)).backward()
    opt.step()
print(f"rank {R}: finished all steps (should not happen)", flush=True)
