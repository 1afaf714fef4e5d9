"""``sportlens export CHECKPOINT --format onnx``: any registered model to ONNX, checked in ONNX Runtime.

The model is rebuilt from the checkpoint (registry + weights), given example inputs that match its
interface (skeleton models and forecasters: ``x`` (B, T, V, C); video models: one tensor per name in ``model.inputs``,
see ``models/_common.VideoModel``; detectors: ``image`` (B, 3, S, S), exported up to the raw head
outputs (B, N, 5+K), named ``raw``), exported with a dynamic batch axis, then run in ONNX Runtime on a
fresh random batch of another size; the export is kept only if every output matches PyTorch (max abs
difference under ``atol``). The file is written atomically.

Exporter: torch's TorchScript-based exporter (``dynamo=False``). The torch.export-based one needs
onnx >= 1.18 for some models, which needs protobuf >= 6, and mediapipe 0.10.14 (the offline pose
model) needs protobuf < 5: onnx is held at 1.17 and this exporter works with it for every model here.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from sportlens.engine.checkpoint import build_from_checkpoint, load_checkpoint
from sportlens.errors import InputError
from sportlens.fsutil import atomic_path
from sportlens.models._common import DetectorModel, ForecastModel, SkeletonModel, VideoModel

OPSET = 17


def example_inputs(model: nn.Module, batch: int = 1, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random inputs of the model's interface, keyed by the forward argument names."""
    g = torch.Generator().manual_seed(seed)
    if isinstance(model, SkeletonModel):
        return {"x": torch.randn(batch, model.num_frames, model.num_joints, model.in_channels, generator=g)}
    if isinstance(model, VideoModel):
        t, s = model.num_frames, model.image_size
        shapes = {"rgb": (batch, t, 3, s, s), "pose": (batch, t, model.num_joints, model.in_channels),
                  "flow": (batch, t, 2 * getattr(model, "flow_stack", 1), s, s)}
        return {name: torch.randn(*shapes[name], generator=g) for name in model.inputs}
    if isinstance(model, DetectorModel):  # raw head outputs (B, N, 5+K) are exported; decode/NMS stay outside
        s = model.image_size
        return {"image": torch.rand(batch, 3, s, s, generator=g)}
    if isinstance(model, ForecastModel):  # normalised observed poses (B, T_obs, V, C) -> (B, horizon, V, 2)
        return {"x": torch.randn(batch, model.num_frames, model.num_joints, model.in_channels, generator=g)}
    raise InputError(f"cannot export {type(model).__name__}: not a SkeletonModel, VideoModel or DetectorModel")


class PositionalInputs(nn.Module):
    """ONNX export passes positional arguments; video models take keyword ones."""

    def __init__(self, model: nn.Module, names: list[str]) -> None:
        super().__init__()
        self.model, self.names = model, names

    def forward(self, *args: torch.Tensor) -> torch.Tensor:
        return self.model(**dict(zip(self.names, args)))


def export_onnx(checkpoint: str | Path, out: str | Path, *, atol: float = 1e-4) -> dict:
    """Export ``checkpoint`` to ``out`` (.onnx); returns {"path", "max_abs_diff", "inputs"}."""
    model = build_from_checkpoint(load_checkpoint(checkpoint)).eval()
    example = example_inputs(model)
    names = list(example)
    output = "raw" if isinstance(model, DetectorModel) else "poses" if isinstance(model, ForecastModel) else "logits"
    wrapped = PositionalInputs(model, names).eval()
    out = Path(out)
    with atomic_path(out) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's deprecation and tracer warnings
        torch.onnx.export(wrapped, tuple(example.values()), str(tmp), dynamo=False, opset_version=OPSET,
                          input_names=names, output_names=[output],
                          dynamic_axes={n: {0: "batch"} for n in [*names, output]})
        diff = check_onnx(tmp, wrapped, names, atol=atol)
    return {"path": str(out), "max_abs_diff": diff, "inputs": {n: list(v.shape) for n, v in example.items()}}


def check_onnx(path: str | Path, wrapped: nn.Module, names: list[str], *, atol: float) -> float:
    """Run the ONNX file in ONNX Runtime on a batch of 3 and compare with PyTorch."""
    import onnxruntime as ort  # optional dependency (``pip install sportlens[export]``); in the lock file

    feeds = example_inputs(wrapped.model, batch=3, seed=1)
    with torch.inference_mode():
        expected = wrapped(*feeds.values()).numpy()
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {n: feeds[n].numpy() for n in names})[0]
    diff = float(np.abs(got - expected).max())
    if not diff < atol:
        raise InputError(f"{path}: ONNX Runtime output differs from PyTorch by {diff:.2e} (> {atol:.0e}); "
                         "the export was not kept")
    return diff
