"""``YoloPersonDetector``: a trained ``yolov5s_cbam`` checkpoint (``sportlens train-detector``) as a
person detector. ``detect(image_rgb)`` letterboxes the frame to the checkpoint's input size, runs the
model, decodes, applies NMS and maps the boxes back to the frame's pixels. This is the interface the
multi-person pose estimator accepts as ``detector=`` (``--detector PATH``)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from sportlens.data.detection_data import letterbox
from sportlens.engine.checkpoint import build_from_checkpoint, load_checkpoint
from sportlens.engine.detection import predict
from sportlens.errors import InputError
from sportlens.models._common import DetectorModel


class YoloPersonDetector:
    """``YoloPersonDetector(checkpoint, conf_threshold=0.25, iou_threshold=0.45, device="cpu")``."""

    def __init__(self, checkpoint: str | Path, conf_threshold: float = 0.25, iou_threshold: float = 0.45,
                 device: str = "cpu", max_det: int = 100) -> None:
        torch.set_flush_denormal(True)  # subnormal activations of trained weights: ~50x slower on x86 CPUs
        ckpt = load_checkpoint(checkpoint)
        model = build_from_checkpoint(ckpt, device)
        if not isinstance(model, DetectorModel):
            raise InputError(f"{checkpoint}: holds a {type(model).__name__}, not a detector; train one with "
                             "`sportlens train-detector`")
        self.model, self.device = model.eval(), torch.device(device)
        self.image_size = int(model.image_size)
        self.conf_threshold, self.iou_threshold, self.max_det = conf_threshold, iou_threshold, max_det
        self.person_class = 0

    def detect(self, image_rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(H, W, 3) uint8 RGB -> boxes (N, 4) float32 xyxy in the image's pixels, scores (N,) float32,
        by decreasing score."""
        if image_rgb.ndim != 3 or image_rgb.shape[2] != 3:
            raise InputError(f"detect expects an (H, W, 3) RGB image, got shape {image_rgb.shape}")
        h, w = image_rgb.shape[:2]
        img, r, (px, py) = letterbox(np.ascontiguousarray(image_rgb), self.image_size)
        x = torch.from_numpy(img.transpose(2, 0, 1).astype(np.float32) / 255.0)[None].to(self.device)
        d = predict(self.model, x, self.conf_threshold, self.iou_threshold, self.max_det)[0].cpu().numpy()
        d = d[d[:, 5] == self.person_class]
        boxes = (d[:, :4] - np.array([px, py, px, py], np.float32)) / r
        boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, w)
        boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, h)
        return boxes.astype(np.float32), d[:, 4].astype(np.float32)

    __call__ = detect
