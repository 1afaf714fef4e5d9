"""Grad-CAM (Selvaraju et al., ICCV 2017) for the video models: where in each frame the class came from.

For a target class c and a convolutional feature map A (channels k), Grad-CAM weights every channel by
the spatial mean of the class score's gradient, ``alpha_k = mean_xy d y_c / d A_k``, and keeps the
positive part of the weighted sum, ``L_c = ReLU(sum_k alpha_k A_k)``: the regions whose features raise
the class score. The map is upsampled to the input crop and scaled to [0, 1].

Written here rather than taken from a library: no maintained Grad-CAM package is installed in this
environment (``pytorch-grad-cam`` is not among the pinned dependencies), the method is twenty lines,
and our models take several named inputs (rgb, pose, flow) and fold time into the batch axis, which
generic wrappers do not expect.

Mechanics: a forward hook on the target module keeps its output A; ``torch.autograd.grad`` of the
score w.r.t. A gives the gradients (no ``.grad`` of any parameter is touched, so it is safe on a model
in use). Two kinds of target layer:

- per-frame 2D CNNs (sportnet, cnn_lstm, two_stream's RGB stream, hicnn_psta): A is (B*T, K, h, w);
  the maps are (B, T, S, S), one per frame, upsampled bilinearly;
- 3D CNNs (c3d_attn): A is (B, K, T', h, w); alpha_k averages over time too, and the (T', h, w) map
  is upsampled trilinearly to (T, S, S).

Default target layer (:func:`default_target_layer`): a ``gradcam_layer`` attribute naming a submodule
when the model has one; else the last convolutional *block* of the RGB feature extractor, the first
of ``rgb.backbone``, ``backbone``, ``features`` that exists (else the model itself). "Last block":
descend through ``Sequential``/``ModuleList`` containers into their last child that contains a
convolution, and stop at the first other module: ``layer4[-1]`` of a ResNet (its output after the
residual sum and ReLU, the usual Grad-CAM layer for ResNets; the last ``Conv2d`` alone would miss
BN, the skip path and the rectification), the last involution block of HICNN, the last ``Block3d``
of C3D. The flow stream of two_stream is not explained (flow fields are not pictures a coach reads).
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

CONV_TYPES = (nn.Conv2d, nn.Conv3d)
FEATURE_PATHS = ("rgb.backbone", "backbone", "features")  # where the RGB feature extractor lives


@dataclass
class GradCAMResult:
    """``maps`` (B, T, S, S) float32 in [0, 1]; ``logits`` (B, K); ``class_index`` (B,) explained class."""

    maps: np.ndarray
    logits: np.ndarray
    class_index: np.ndarray
    layer: str


# ---------------------------------------------------------------- target layer
def _has_conv(module: nn.Module) -> bool:
    return any(isinstance(m, CONV_TYPES) for m in module.modules())


def _last_conv_block(module: nn.Module) -> nn.Module:
    """The last child (recursively through containers) that contains a convolution."""
    children = [c for c in module.children() if _has_conv(c)]
    if not children:
        return module
    last = children[-1]
    return _last_conv_block(last) if isinstance(last, (nn.Sequential, nn.ModuleList)) else last


def _name_of(model: nn.Module, module: nn.Module) -> str:
    return next((n for n, m in model.named_modules() if m is module), "") or "<model>"


def default_target_layer(model: nn.Module) -> tuple[str, nn.Module]:
    """(qualified name, module) of the layer Grad-CAM reads (see the module docstring)."""
    name = getattr(model, "gradcam_layer", None)
    if isinstance(name, str) and name:
        return name, model.get_submodule(name)
    root = model
    for path in FEATURE_PATHS:
        try:
            root = model.get_submodule(path)
            break
        except AttributeError:  # no such attribute, or not a module (hicnn_psta.features is a method)
            continue
    layer = _last_conv_block(root)
    return _name_of(model, layer), layer


def resolve_layer(model: nn.Module, layer: str | nn.Module | None) -> tuple[str, nn.Module]:
    if layer is None:
        return default_target_layer(model)
    if isinstance(layer, str):
        return layer, model.get_submodule(layer)
    return _name_of(model, layer), layer


# ---------------------------------------------------------------- Grad-CAM
@contextlib.contextmanager
def _capture(module: nn.Module):
    """Keep the output of ``module`` during the forward passes inside the block."""
    store: dict[str, torch.Tensor] = {}

    def hook(_m, _inp, out):
        store["a"] = out[0] if isinstance(out, (tuple, list)) else out

    handle = module.register_forward_hook(hook)
    try:
        yield store
    finally:
        handle.remove()


@contextlib.contextmanager
def _eval_mode(model: nn.Module):
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


def _prepare(inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Fresh leaf copies that require grad: a graph exists even when every parameter is frozen, and
    tensors made under ``torch.inference_mode`` become usable by autograd."""
    return {k: v.detach().clone().float().requires_grad_(True) for k, v in inputs.items()}


def _cam(act: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
    """ReLU(sum_k alpha_k A_k), alpha_k = mean of the gradient over every axis after the channel one.
    (N, K, *space) -> (N, *space)."""
    dims = tuple(range(2, act.dim()))
    alpha = grad.mean(dim=dims, keepdim=True)  # (N, K, 1, ...)
    return F.relu((alpha * act).sum(dim=1))  # (N, *space)


def _to_frames(cam: torch.Tensor, b: int, t: int, size: tuple[int, int]) -> torch.Tensor:
    """Raw CAMs -> (B, T, H, W) at the input size. 2D: cam (B*T, h, w); 3D: cam (B, T', h, w)."""
    if cam.dim() == 3:
        if cam.shape[0] != b * t:
            raise ValueError(f"2D target layer gave {cam.shape[0]} maps for B*T = {b * t} frames: pick a "
                             "per-frame layer (or a 3D one)")
        up = F.interpolate(cam.unsqueeze(1), size=size, mode="bilinear", align_corners=False)  # (B*T, 1, H, W)
        return up.reshape(b, t, *size)
    if cam.dim() == 4:  # (B, T', h, w)
        up = F.interpolate(cam.unsqueeze(1), size=(t, *size), mode="trilinear", align_corners=False)
        return up[:, 0]  # (B, 1, T, H, W) -> (B, T, H, W)
    raise ValueError(f"target layer output has shape {tuple(cam.shape)}; need a 2D or 3D feature map")


def _normalise(maps: torch.Tensor, per_frame: bool) -> torch.Tensor:
    """Scale (B, T, H, W) maps to [0, 1] by their maximum per clip (frames stay comparable) or per frame.
    An all-zero map (no positive evidence) stays 0."""
    dims = (2, 3) if per_frame else (1, 2, 3)
    peak = maps.amax(dim=dims, keepdim=True)
    return torch.where(peak > 0, maps / peak.clamp_min(1e-12), torch.zeros_like(maps)).clamp(0.0, 1.0)


def grad_cam(model: nn.Module, inputs: dict[str, torch.Tensor], class_index: int | list[int] | None = None,
             layer: str | nn.Module | None = None, *, per_frame: bool = False) -> GradCAMResult:
    """Grad-CAM maps of ``model`` for one batch of ``inputs`` (the model's keyword inputs; the frames
    of ``rgb`` (B, T, 3, S, S) set the map size). ``class_index``: the class to explain per clip (an int
    for all, a list per clip, None = each clip's predicted class). The model runs in eval mode (its mode
    is restored afterwards). Returns maps (B, T, S, S) in [0, 1], normalised per clip (``per_frame``:
    per frame)."""
    name, module = resolve_layer(model, layer)
    video = inputs.get("rgb", next(iter(inputs.values())))  # (B, T, C, H, W)
    b, t = video.shape[:2]
    # cuDNN's RNN refuses backward in eval mode (cnn_lstm on a GPU): the native kernels have no such limit
    with _eval_mode(model), torch.inference_mode(False), torch.enable_grad(), torch.backends.cudnn.flags(
            enabled=False), _capture(module) as store:
        logits = model(**_prepare(inputs))  # (B, K)
        if "a" not in store:
            raise ValueError(f"target layer {name!r} was not used by the forward pass")
        cls = _classes(logits, class_index)  # (B,)
        score = logits.gather(1, cls[:, None]).sum()  # clips are independent in eval mode
        act = store["a"]
        (grad,) = torch.autograd.grad(score, act)
        cam = _cam(act.detach(), grad.detach())
    maps = _normalise(_to_frames(cam, b, t, tuple(video.shape[-2:])), per_frame)
    return GradCAMResult(maps.cpu().numpy().astype(np.float32), logits.detach().cpu().numpy(), cls.cpu().numpy(), name)


def _classes(logits: torch.Tensor, class_index: int | list[int] | None) -> torch.Tensor:
    b, k = logits.shape
    if class_index is None:
        return logits.detach().argmax(dim=1)
    cls = torch.as_tensor([class_index] * b if isinstance(class_index, int) else list(class_index),
                          device=logits.device)
    if cls.shape != (b,) or (cls < 0).any() or (cls >= k).any():
        raise ValueError(f"class_index {class_index} does not fit {b} clip(s) and {k} classes")
    return cls.long()
