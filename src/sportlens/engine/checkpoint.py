"""Checkpoints: weights plus everything needed to rebuild the model and check its input.

A checkpoint is a plain dict saved with ``torch.save`` (loadable with ``weights_only=True``):
``model_name``/``model_kwargs`` rebuild the model through the registry, ``classes`` names the
outputs, ``data_spec`` (skeleton, in_channels, num_frames...) says which input it was trained on,
``optimizer``/``scheduler``/``epoch``/``extra`` let ``fit`` resume.
"""
from __future__ import annotations

import contextlib
import importlib
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn

from sportlens import __version__
from sportlens.fsutil import atomic_path
from sportlens.errors import InputError
from sportlens.models.registry import create_model

FORMAT = 1
REQUIRED = ("model_name", "model_kwargs", "state_dict", "classes", "data_spec", "epoch")


def plain(obj: Any) -> Any:
    """Make ``obj`` safe for ``weights_only`` loading and JSON/YAML: Paths -> str, numpy -> python."""
    if isinstance(obj, dict):
        return {str(k): plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(plain(v) for v in obj)
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def save_checkpoint(path: str | Path, *, model_name: str, model_kwargs: dict, model: nn.Module,
                    classes: list[str], data_spec: dict, optimizer: torch.optim.Optimizer | None = None,
                    scheduler: Any = None, epoch: int, metrics: dict, config: dict,
                    extra: dict | None = None) -> Path:
    """Write a checkpoint atomically (never a half-written file under ``path``)."""
    ckpt = {
        "format": FORMAT, "sportlens_version": __version__, "torch_version": str(torch.__version__),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "model_name": model_name, "model_kwargs": plain(dict(model_kwargs)),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "classes": list(classes), "data_spec": plain(dict(data_spec)), "epoch": int(epoch),
        "metrics": plain(dict(metrics)), "config": plain(dict(config)),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "extra": extra or {},
    }
    with atomic_path(path) as tmp:
        torch.save(ckpt, tmp)
    return Path(path)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a checkpoint on the CPU; ``ckpt["path"]`` records where it came from."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: checkpoint not found. Check the path, or train a model first")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unpickling error means the same to the user
        lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()] or [type(e).__name__]
        reason = next((ln for ln in lines if "error:" in ln.lower()), lines[0])
        raise InputError(f"{path}: not a readable sportlens checkpoint ({reason}). "
                         "Re-train or pick another file") from None
    missing = [k for k in REQUIRED if not isinstance(ckpt, dict) or k not in ckpt]
    if missing:
        raise InputError(f"{path}: not a sportlens checkpoint (missing {', '.join(missing)})")
    ckpt["path"] = str(path)
    return ckpt


def build_from_checkpoint(ckpt: dict[str, Any], device: str | torch.device = "cpu") -> nn.Module:
    """Rebuild the model via the registry and load its weights strictly; returns it in eval mode."""
    name, where = ckpt["model_name"], ckpt.get("path", "checkpoint")
    with contextlib.suppress(ImportError):
        importlib.import_module("sportlens.models")  # registers the built-in models
    try:
        model = create_model(name, **ckpt["model_kwargs"])
    except KeyError as e:
        raise InputError(f"{where}: {e.args[0]}") from None
    except TypeError as e:
        raise InputError(f"{where}: model {name!r} cannot be built with {ckpt['model_kwargs']} ({e})") from None
    try:
        model.load_state_dict(ckpt["state_dict"], strict=True)
    except RuntimeError as e:
        raise InputError(f"{where}: weights do not fit model {name!r} ({str(e).splitlines()[0]})") from None
    return model.to(device).eval()


def check_compatible(ckpt: dict[str, Any], *, skeleton: str, in_channels: int, num_frames: int | None = None) -> None:
    """Raise ``InputError`` when the data differs from what the checkpoint was trained on."""
    spec, where = ckpt.get("data_spec") or {}, ckpt.get("path", "checkpoint")
    wanted = {"skeleton": skeleton, "in_channels": in_channels, "num_frames": num_frames}
    problems = [f"{key} {spec[key]}, data is {value}" for key, value in wanted.items()
                if value is not None and spec.get(key) is not None and spec[key] != value]
    if problems:
        raise InputError(f"checkpoint {where} was trained on {'; '.join(problems)}. "
                         "Use data in the checkpoint's format or a checkpoint trained on this data")
