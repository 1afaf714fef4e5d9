"""Data-parallel training: ``sportlens train CONFIG --nproc N`` with torch DistributedDataParallel.

Every process (rank) holds the whole model and trains on its share of each global batch; DDP
averages the gradients, so a step is the step one process would take on the whole batch.

Decisions:
- Backend: nccl when there is a CUDA GPU for every local rank (rank r uses cuda:LOCAL_RANK), else gloo
  on CPU. BatchNorm becomes SyncBatchNorm on GPUs (statistics over the global batch, as in one
  process); on CPU PyTorch has no SyncBatchNorm, so each rank normalises its own share and DDP
  copies rank 0's running statistics to the others at every step.
- The same seed everywhere: every rank builds the same initial weights, and a ``DistributedSampler``
  (seeded with fit.seed, reshuffled per epoch with ``set_epoch``) gives each rank every N-th sample of
  one shared permutation, so the ranks' shares of a step together form one global batch of
  ``data.batch_size`` (it must divide by N). That order is not the single-process ``shuffle=True``
  order: a DDP run matches a one-process run fed the same batches (tests/test_ddp.py), not bit for bit
  an ordinary one.
- Training loss/accuracy are summed over ranks (all-reduce). Validation runs on rank 0 only and its
  result is broadcast, so model selection and early stopping are the same decision on every rank
  (no rank can stop while another waits); the test split is evaluated by rank 0 after training.
  Checkpoints, history, curves, metrics and log lines are written by rank 0 only.
- One machine: ``--nproc N`` spawns N processes (torch.multiprocessing) with a free local port.
  Several machines: start ``python -m sportlens train CONFIG`` on each with torchrun, which sets
  RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT; this module reads them
  (``init_method="env://"``). The run folder's name is rank 0's, broadcast to the others.
  Only rank 0 writes, so the run folder need not be shared; the data (data.root) must be on every node.
- Each CPU rank gets an equal share of this machine's cores for its intra-op threads, so N ranks
  do not run N x cores threads.
- DDP runs with ``find_unused_parameters=False`` (no extra graph walk per step): a model whose forward
  leaves a parameter unused fails with DDP's own error naming it. Tasks that call a model method
  other than ``forward`` (stream_ensemble) bypass DDP's synchronisation and are refused.
"""
from __future__ import annotations

import contextlib
import os
import re
import socket
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Iterator, NoReturn, Sequence

import torch
import torch.distributed as dist
import torch.nn as nn
from torch.utils.data import Dataset
from torch.utils.data.distributed import DistributedSampler

from sportlens.errors import InputError, SportlensError

TORCHRUN_VARS = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


class RankFailed(SportlensError):
    """A spawned training process raised; the message is its exception's last line."""


# ---------------------------------------------------------------- where am I
def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def is_main() -> bool:
    """True in the process that writes files and logs: rank 0, or the only process."""
    return rank() == 0


def launched_by_torchrun() -> bool:
    """This process is one rank of a torchrun (or any env://) launch of more than one process."""
    return all(v in os.environ for v in TORCHRUN_VARS) and int(os.environ["WORLD_SIZE"]) > 1


def device() -> torch.device:
    if is_distributed() and dist.get_backend() == "nccl":
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    return torch.device("cpu")


# ---------------------------------------------------------------- the pieces fit / loops / make_loader use
def wrap(model: nn.Module) -> nn.Module:
    """The model to train with: DDP around ``model`` (moved to this rank's device) when distributed,
    else ``model`` itself. Evaluate and save ``model``: same parameters, no ``module.`` prefix."""
    if not is_distributed():
        return model
    dev = device()
    model.to(dev)
    if dev.type == "cuda":
        nn.SyncBatchNorm.convert_sync_batchnorm(model)  # replaces the BN children in place; same parameters
        return nn.parallel.DistributedDataParallel(model, device_ids=[dev.index])
    return nn.parallel.DistributedDataParallel(model)


def train_sampler(dataset: Dataset, seed: int) -> DistributedSampler | None:
    """This rank's share of each epoch's permutation (None when not distributed). drop_last: the few
    samples beyond a multiple of the world size are left out rather than repeated (no double weight)."""
    if not is_distributed():
        return None
    return DistributedSampler(dataset, num_replicas=world_size(), rank=rank(), shuffle=True, seed=seed,
                              drop_last=True)


def local_batch_size(global_batch: int) -> int:
    if global_batch % world_size():
        raise InputError(f"data.batch_size={global_batch} does not divide into {world_size()} processes; "
                         f"use a multiple of {world_size()} (it is the global batch)")
    return global_batch // world_size()


def all_reduce_sums(*values: float) -> tuple[float, ...]:
    """The sums over all ranks of per-rank totals (e.g. loss sum, samples, correct); unchanged alone."""
    if not is_distributed():
        return values
    t = torch.tensor(values, dtype=torch.float64, device=device())
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return tuple(type(v)(x) for v, x in zip(values, t.tolist()))


def on_main(fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)`` computed by rank 0 and sent to every rank (the one call when not distributed)."""
    if not is_distributed():
        return fn(*args)
    box = [fn(*args) if is_main() else None]
    dist.broadcast_object_list(box, src=0, device=device() if device().type == "cuda" else None)
    return box[0]


# ---------------------------------------------------------------- process groups and launching
@contextlib.contextmanager
def process_group(backend: str = "") -> Iterator[None]:
    """Join the group described by the env:// variables for the ``with`` block, then leave it."""
    local_rank, local_world = int(os.environ.get("LOCAL_RANK", 0)), int(os.environ.get("LOCAL_WORLD_SIZE", 1))
    backend = backend or default_backend(local_world)
    if backend == "nccl":
        torch.cuda.set_device(local_rank)
    else:
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // local_world))
    dist.init_process_group(backend=backend, init_method="env://")
    try:
        yield
        # Leave together: a rank tearing its group down while rank 0 still writes and tests was seen to
        # abort in gloo's threads. Not after an error: that rank raises and the launcher stops the rest.
        dist.barrier()
    finally:
        dist.destroy_process_group()


def default_backend(local_world: int) -> str:
    return "nccl" if torch.cuda.is_available() and torch.cuda.device_count() >= local_world else "gloo"


def launch(fn: Callable[..., Any], args: Sequence[Any], nproc: int, *, backend: str = "") -> None:
    """Run ``fn(*args)`` in ``nproc`` new processes on this machine, each a rank of one process group.
    ``fn`` and ``args`` must pickle (a module-level function). A rank that fails stops the others and
    its exception is raised here."""
    import torch.multiprocessing as mp

    if nproc < 1:
        raise InputError(f"--nproc must be at least 1, got {nproc}")
    env = {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(free_port()), "WORLD_SIZE": str(nproc),
           "LOCAL_WORLD_SIZE": str(nproc)}
    try:
        mp.spawn(_rank_main, args=(env, backend, fn, tuple(args)), nprocs=nproc, join=True)
    except mp.ProcessRaisedException as e:  # the rank's traceback is text; its last line names the error
        lines = str(e).strip().splitlines()
        raise RankFailed(f"training process failed: {lines[-1] if lines else e}") from e
    except mp.ProcessExitedException as e:  # killed (out of memory, a signal) without a Python exception
        raise RankFailed(f"training process {e.error_index} died (exit code {e.exit_code}); the others were "
                         "stopped") from e


def _rank_main(local_rank: int, env: dict[str, str], backend: str, fn: Callable[..., Any], args: tuple) -> None:
    os.environ.update(env, RANK=str(local_rank), LOCAL_RANK=str(local_rank))
    try:
        with process_group(backend):
            fn(*args)
    except RuntimeError as e:
        # A rank whose peer died sees only "Connection closed by peer" in its next collective. mp.spawn
        # reports the first rank to exit, so let the rank with the real error exit first.
        if _PEER_LOST.search(str(e)):
            time.sleep(PEER_LOST_DELAY_S)
        raise
    exit_rank()  # exit code 0 is what spawn checks


def exit_rank(code: int = 0) -> NoReturn:
    """Leave a rank process whose work is done and whose group is destroyed, without the interpreter's
    teardown: tearing down gloo's C++ threads at exit aborted a rank now and then ("terminate called without
    an active exception", exit code -6, seen in CI after complete runs, spawned and under torchrun alike);
    os._exit skips it. Output is flushed first; nothing else is left to clean up by then."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


_PEER_LOST = re.compile(r"Connection closed by peer|Connection reset by peer|remote worker crash", re.I)
PEER_LOST_DELAY_S = 3.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def broadcast_object(obj: Any) -> Any:
    """Rank 0's ``obj`` on every rank."""
    return on_main(lambda: obj)


# ---------------------------------------------------------------- skeleton training (engine.experiment)
def train_data_parallel(cfg, nproc: int = 0, *, resume: str | Path | None = None,
                        on_epoch: Callable[[dict], None] | None = None) -> Path | None:
    """``experiment.run_training`` with DDP. ``nproc`` > 1: spawn that many ranks here and wait;
    0 under torchrun: this process is one rank. ``on_epoch`` (rank 0 only) must pickle when spawning.
    Returns the run folder; None on a torchrun rank other than 0."""
    if cfg.task != "classification":
        raise InputError(f"task {cfg.task!r} calls the model's own methods, which DDP does not synchronise; "
                         "train it in one process")
    if launched_by_torchrun():
        with process_group():
            cfg = replace(cfg, name=broadcast_object(run_name(cfg)))
            _train(cfg, resume, on_epoch)
            return Path(cfg.out_dir) / cfg.name if is_main() else None
    if cfg.data.batch_size % nproc:  # here, not in every rank: one clear error before processes start
        raise InputError(f"data.batch_size={cfg.data.batch_size} does not divide into {nproc} processes; "
                         f"use a multiple of {nproc} (it is the global batch)")
    cfg = replace(cfg, name=run_name(cfg))  # decided once: every rank writes to (or reads) the same folder
    launch(_train, (cfg, resume, on_epoch), nproc)
    return Path(cfg.out_dir) / cfg.name


def run_name(cfg) -> str:
    """The configured name, or run_training's default (<model>-<date>), fixed before the ranks start."""
    return cfg.name or f"{cfg.model}-{time.strftime('%Y%m%d-%H%M%S')}"


def _train(cfg, resume, on_epoch) -> None:
    from sportlens.engine.experiment import run_training  # here: experiment imports this module

    run_training(cfg, on_epoch=on_epoch if is_main() else None, resume=resume)
