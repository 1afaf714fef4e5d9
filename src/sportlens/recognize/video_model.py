"""Apply a trained video (RGB) model to an analysed video, and show what it looked at.

``VideoRecognizer(checkpoint).predict(video, clean_track)`` -> :class:`sportlens.types.VideoPrediction`:

1. the clean pose track (pixels, NaN missing) is converted to the checkpoint's skeleton
   (``skeletons.convert``, e.g. BlazePose-33 -> Penn-13) and gives the person box of every frame;
2. the model inputs are built by the training dataset itself (``VideoClipDataset``, inference mode):
   person-centred crops (``crop_geometry``/``crop_frame``), the SportNet sec 2.4 pose code, optical flow
   for flow models, T frames at the segment centres of the whole analysed clip (SportNet sec 2.2). The
   only difference from training: frames stream from the video (``VideoReader``, the analysed range)
   and are cropped as they are decoded, so a long or 4K video is never held in memory whole;
3. one forward + backward pass gives the class probabilities, Grad-CAM maps of the predicted class
   (``sportlens.explain.grad_cam``) and, for models with temporal attention, the weight of each frame;
4. ``explain_frames`` frames are shown: the highest-attention ones, else evenly spaced; the images are
   rendered by ``sportlens.report.explain_plots`` (PNG bytes in ``VideoPrediction.figures``).

Choices: the whole analysed clip is one sample (as a training clip is); to classify one movement of a
longer video, trim it (``analyze --start/--end``). A clip shorter than T frames repeats its frames in
order, exactly as the training sampler does (L=3, T=8 -> 0,0,0,1,1,1,2,2); one frame is enough (flow
is then zero). Frames where the person is missing take the nearest frame's box (``person_boxes``).
Errors (``InputError``): a checkpoint that is not a video model or not the expected one, a video
without a detected person.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from sportlens.config import RecognitionSettings
from sportlens.data.transforms import segment_indices
from sportlens.data.video_datasets import (IMAGENET_MEAN, IMAGENET_STD, VideoClipDataset, VideoSample, crop_frame,
                                           crop_geometry)
from sportlens.engine.checkpoint import build_from_checkpoint, load_checkpoint
from sportlens.errors import InputError
from sportlens.explain import choose_frames, grad_cam, read_attention, recording_attention
from sportlens.models import VideoModel, list_models
from sportlens.report.explain_plots import plot_attention, plot_gradcam
from sportlens.skeletons import convert
from sportlens.types import PoseTrack, VideoPrediction
from sportlens.video.reader import VideoReader

GRADCAM_PNG = "explain_gradcam.png"
ATTENTION_PNG = "explain_attention.png"


# ---------------------------------------------------------------- checkpoints
def is_video_checkpoint(ckpt: dict) -> bool:
    """True for checkpoints written by the video experiments (``data_spec["kind"] == "video"``)."""
    return (ckpt.get("data_spec") or {}).get("kind") == "video"


def check_model_name(ckpt: dict, expected: str) -> None:
    """``InputError`` when ``expected`` (a model name, "" = any) is unknown or not the checkpoint's model."""
    if not expected:
        return
    if expected not in list_models():
        raise InputError(f"unknown model {expected!r}; available: {', '.join(list_models())}")
    name, where = ckpt["model_name"], ckpt.get("path", "checkpoint")
    if name != expected:
        kind = "video" if is_video_checkpoint(ckpt) else "skeleton"
        raise InputError(f"{where}: holds the {kind} model {name!r}, not {expected!r}. Pass the checkpoint of a "
                         f"{expected} model, or leave the model name out")


def resolve_recognition(s: RecognitionSettings, checkpoint: str | Path | None, model: str = ""
                        ) -> RecognitionSettings:
    """Route a user's checkpoint: a video-model checkpoint -> ``video_checkpoint`` (the skeleton timeline
    keeps its shipped model), a skeleton one -> ``checkpoint``. ``model`` must name the checkpoint's model."""
    if not checkpoint:
        if model:
            check_model_name({"model_name": model}, model)  # unknown name first: the clearer message
            raise InputError(f"model {model!r} needs a trained checkpoint: no video model ships with sportlens "
                             "(train one with `sportlens train configs/synthetic_sportnet.yaml`)")
        return s
    ckpt = load_checkpoint(checkpoint)
    check_model_name(ckpt, model)
    if is_video_checkpoint(ckpt):
        return replace(s, video_checkpoint=str(checkpoint), video_model=ckpt["model_name"])
    return replace(s, checkpoint=str(checkpoint))


# ---------------------------------------------------------------- inputs
class _StreamedClipDataset(VideoClipDataset):
    """``VideoClipDataset`` whose frames stream from one video range: each decoded frame is cropped at
    once (``crop_geometry``/``crop_frame``, as ``all_crops`` does), the rest is the dataset's own code."""

    def __init__(self, *args, start: float | None = None, end: float | None = None, frame_index=None, **kw):
        super().__init__(*args, **kw)
        self.start, self.end, self.frame_index = start, end, frame_index
        self.length = 0  # frames actually cropped (L), known after the item is built

    def all_crops(self, s: VideoSample) -> tuple[np.ndarray, np.ndarray]:
        L = len(s.keypoints)
        reader = VideoReader(s.video, start=self.start, end=self.end)
        geom = crop_geometry(self._boxes(s, L), reader.output_size, L, self.margin)  # (L, 3)
        slot = {int(f): i for i, f in enumerate(self.frame_index)}  # decoded frame index -> track row
        crops = np.zeros((L, self.size, self.size, 3), np.uint8)
        seen = np.zeros(L, bool)
        last = max(slot)
        for fr in reader:
            i = slot.get(fr.index)
            if i is not None:
                crops[i], seen[i] = crop_frame(fr.image, *geom[i], self.size), True
            if fr.index >= last:
                break
        n = int(np.argmin(seen)) if not seen.all() else L  # leading frames that could be decoded
        if n == 0:
            raise InputError(f"{s.video}: no frame of the analysed range could be decoded for the video model")
        self.length = n
        return crops[:n], geom[:n]


class VideoRecognizer:
    """A video-model checkpoint ready to classify analysed videos (loaded once, reused)."""

    def __init__(self, checkpoint: str | Path, model: str = ""):
        self.path = Path(checkpoint)
        self.ckpt = load_checkpoint(self.path)
        check_model_name(self.ckpt, model)
        if not is_video_checkpoint(self.ckpt):
            raise InputError(f"{self.path}: holds the skeleton model {self.ckpt['model_name']!r}, not a video model "
                             "(sportnet, c3d_attn, cnn_lstm, two_stream, hicnn_psta); use it as the movement "
                             "recognition checkpoint instead")
        self.model = build_from_checkpoint(self.ckpt).eval()
        if not isinstance(self.model, VideoModel):
            raise InputError(f"{self.path}: model {self.ckpt['model_name']!r} is not a video model")
        spec = self.ckpt["data_spec"]
        self.classes: tuple[str, ...] = tuple(self.ckpt["classes"])
        self.T = int(spec.get("num_frames", self.model.num_frames))
        self.S = int(spec.get("image_size", self.model.image_size))
        self.flow_stack = int(spec.get("flow_stack", getattr(self.model, "flow_stack", 5)))
        self.skeleton = spec.get("skeleton", self.model.skeleton)
        self.name = f"{self.ckpt['model_name']} ({self.path.name})"

    # ---- inputs
    def inputs(self, video: str | Path, track: PoseTrack, start: float | None = None, end: float | None = None
               ) -> tuple[dict[str, torch.Tensor], np.ndarray]:
        """Model inputs (batch of one, the ``VideoModel`` contract) and the (T,) track rows they sample."""
        kp, sc = convert(track.keypoints, track.scores, track.skeleton, self.skeleton)  # (L, V, 2), (L, V)
        vis = np.isfinite(kp).all(axis=-1)  # (L, V)
        if track.num_frames == 0 or not vis.any():
            raise InputError(f"{video}: no person detected in the analysed part; the video model needs the "
                             "person's box to crop the frames")
        sample = VideoSample(name=Path(video).stem, label=self.classes[0], split="test", video=Path(video),
                             keypoints=kp, visibility=vis, skeleton=self.skeleton)
        ds = _StreamedClipDataset([sample], self.classes, num_frames=self.T, image_size=self.S, train=False,
                                  inputs=self.model.inputs, flip=False, flow_stack=self.flow_stack,
                                  skeleton=self.skeleton, start=start, end=end, frame_index=track.frame_index)
        item = ds[0]
        batch = {k: item[k].unsqueeze(0) for k in self.model.inputs}  # (1, T, ...)
        return batch, segment_indices(ds.length, self.T, train=False)

    # ---- prediction
    def predict(self, video: str | Path, track: PoseTrack, start: float | None = None, end: float | None = None,
                explain_frames: int = 4, render: bool = True) -> VideoPrediction:
        """Classify the analysed clip; Grad-CAM of the predicted class on ``explain_frames`` frames."""
        batch, rows = self.inputs(video, track, start, end)
        with recording_attention(self.model):
            cam = grad_cam(self.model, batch)  # one forward + backward
            att = read_attention(self.model, self.T)  # (1, T) or None
        probs = torch.softmax(torch.from_numpy(cam.logits[0]).double(), dim=0).numpy()  # (K,)
        attention = None if att is None else att[0]
        shown = _distinct(attention, explain_frames, rows)
        pred = VideoPrediction(model=self.name, classes=self.classes, probs=probs, frame_times=track.times[rows],
                               explained=shown, crops=_crops(batch["rgb"][0, shown]), cams=cam.maps[0, shown],
                               attention=attention, gradcam_layer=cam.layer)
        if render:
            pred.figures = render_figures(pred)
        return pred


def _distinct(attention: np.ndarray | None, n: int, rows: np.ndarray) -> np.ndarray:
    """``choose_frames`` among the first occurrence of each distinct source frame (a short clip repeats
    frames; the same picture twice explains nothing). Returns positions in the T sampled frames."""
    first = np.sort(np.unique(rows, return_index=True)[1])  # (U,) positions of distinct source frames
    return first[choose_frames(len(first), None if attention is None else attention[first], n)]


def _crops(rgb: torch.Tensor) -> np.ndarray:
    """ImageNet-normalised (n, 3, S, S) -> the uint8 crops (n, S, S, 3) the model saw."""
    mean = torch.tensor(IMAGENET_MEAN)[:, None, None]
    std = torch.tensor(IMAGENET_STD)[:, None, None]
    x = (rgb.detach().float() * std + mean) * 255.0  # (n, 3, S, S)
    return x.round().clamp(0, 255).byte().permute(0, 2, 3, 1).numpy()


def render_figures(pred: VideoPrediction) -> dict[str, bytes]:
    """File name -> PNG bytes: the Grad-CAM strip, and the attention plot when the model has one."""
    titles = [f"t = {pred.frame_times[i]:.2f} s" + ("" if pred.attention is None else
                                                   f"\nattention {pred.attention[i]:.0%}") for i in pred.explained]
    head = f"{pred.model}: {pred.label.replace('_', ' ')} ({pred.confidence:.0%})"
    figs = {GRADCAM_PNG: plot_gradcam(pred.crops, pred.cams, titles,
                                      suptitle=head + " - Grad-CAM of this class")}
    if pred.attention is not None:
        figs[ATTENTION_PNG] = plot_attention(pred.frame_times, pred.attention, pred.explained,
                                             title=head + " - attention over the sampled frames")
    return figs


def write_figures(pred: VideoPrediction, out_dir: str | Path) -> list[Path]:
    """Write ``pred.figures`` into ``out_dir``; returns the paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, png in pred.figures.items():
        (out / name).write_bytes(png)
        paths.append(out / name)
    return paths
