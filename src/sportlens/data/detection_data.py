"""Person-detection data: a COCO-format loader, generated scenes, and a letterboxing torch Dataset.

(a) ``load_coco(annotations_json, image_dir=None, category="person")``: the official COCO layout
    (``annotations/instances_val2017.json`` with ``images``, ``annotations``, ``categories``; bbox =
    [x, y, width, height] in pixels, top-left origin); ``iscrowd`` annotations are skipped, only the
    ``category`` boxes are kept. Malformed files raise ``InputError`` naming the file and the entry.
(b) ``generate_scenes(n, seed, size)``: rendered scenes, 1-4 stick figures (the renderer of
    ``data/synthetic_video.py``, a random frame of a random movement) at varied scale (10-85 % of the
    image height) and position, drawn far-to-near, on the varied backgrounds of the same module plus
    pixel noise; boxes are the figures' extents (the renderer's own box, moved and scaled with the
    figure), clipped to the image. Deterministic in ``seed``. ``write_coco_folder`` writes them as
    ``images/*.jpg`` + ``annotations.json`` so the same loader reads them back.
(c) ``DetectionDataset``: letterbox resize to ``image_size`` (grey 114 padding, aspect kept) and
    horizontal flips (``augment=True``). Item: ``image`` (3, S, S) float32 in [0, 1], ``boxes``
    (n, 4) float32 xyxy in letterboxed pixels, ``labels`` (n,) int64; ``collate_detection`` stacks
    images and gives ``targets`` (M, 6) = [image index, class, x1, y1, x2, y2].
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from sportlens.data import synthetic_video as sv
from sportlens.errors import InputError

PAD_VALUE = 114


@dataclass
class DetectionSample:
    """One image: ``boxes`` (n, 4) float xyxy pixels, ``labels`` (n,) int (0 = person)."""

    name: str
    width: int
    height: int
    boxes: np.ndarray
    labels: np.ndarray
    path: str = ""  # image file (COCO); empty for in-memory images
    image: np.ndarray | None = None  # (H, W, 3) uint8 RGB, when held in memory

    def load(self) -> np.ndarray:
        if self.image is not None:
            return self.image
        bgr = cv2.imread(self.path, cv2.IMREAD_COLOR)
        if bgr is None:
            raise InputError(f"{self.path}: cannot be read as an image")
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


# ---------------------------------------------------------------- (a) COCO
def load_coco(annotations_json: str | Path, image_dir: str | Path | None = None, category: str = "person",
              check_images: bool = True) -> list[DetectionSample]:
    """Read a COCO instances file; one sample per image (images without a ``category`` box included,
    as negatives). ``image_dir``: where ``file_name`` is; default: beside the json, or its ``images/``."""
    path = Path(annotations_json)
    if not path.is_file():
        raise InputError(f"{path}: annotation file not found")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a JSON object with images, annotations, categories")
    missing = [k for k in ("images", "annotations", "categories") if k not in data]
    if missing:
        raise InputError(f"{path}: missing key(s) {', '.join(missing)} (a COCO instances file has images, "
                         "annotations, categories)")
    cat_ids = {c.get("id") for c in data["categories"] if isinstance(c, dict) and c.get("name") == category}
    if not cat_ids:
        names = sorted(str(c.get("name")) for c in data["categories"] if isinstance(c, dict))
        raise InputError(f"{path}: no category named {category!r} (categories: {', '.join(names) or 'none'})")
    roots = [Path(image_dir)] if image_dir is not None else [path.parent, path.parent / "images"]
    images: dict = {}
    for i, im in enumerate(data["images"]):
        lack = [k for k in ("id", "file_name", "width", "height") if not isinstance(im, dict) or k not in im]
        if lack:
            raise InputError(f"{path}: images[{i}] lacks {', '.join(lack)}")
        file = next((r / im["file_name"] for r in roots if (r / im["file_name"]).is_file()), None)
        if file is None and check_images:
            raise InputError(f"{path}: image {im['file_name']!r} (id {im['id']}) not found in "
                             f"{' or '.join(str(r) for r in roots)}; pass the image folder")
        images[im["id"]] = DetectionSample(name=str(im["file_name"]), width=int(im["width"]),
                                           height=int(im["height"]), boxes=np.zeros((0, 4), np.float32),
                                           labels=np.zeros(0, np.int64), path=str(file or ""))
    boxes: dict = {k: [] for k in images}
    for i, a in enumerate(data["annotations"]):
        lack = [k for k in ("image_id", "category_id", "bbox") if not isinstance(a, dict) or k not in a]
        if lack:
            raise InputError(f"{path}: annotations[{i}] lacks {', '.join(lack)}")
        if a.get("iscrowd", 0) or a["category_id"] not in cat_ids:
            continue
        if a["image_id"] not in images:
            raise InputError(f"{path}: annotations[{i}] refers to image_id {a['image_id']}, which is not in images")
        im = images[a["image_id"]]
        bb = a["bbox"]
        if not (isinstance(bb, list) and len(bb) == 4 and all(isinstance(v, (int, float)) for v in bb)):
            raise InputError(f"{path}: annotations[{i}] bbox must be [x, y, width, height], got {bb!r}")
        x, y, w, h = (float(v) for v in bb)
        tol = 1.0  # px: COCO boxes may touch the border with rounding
        if w <= 0 or h <= 0 or x < -tol or y < -tol or x + w > im.width + tol or y + h > im.height + tol:
            raise InputError(f"{path}: annotations[{i}] bbox {bb} is empty or outside image {im.name!r} "
                             f"({im.width}x{im.height})")
        boxes[a["image_id"]].append([max(x, 0), max(y, 0), min(x + w, im.width), min(y + h, im.height)])
    out = []
    for k, im in images.items():
        b = np.asarray(boxes[k], np.float32).reshape(-1, 4)
        out.append(dataclasses.replace(im, boxes=b, labels=np.zeros(len(b), np.int64)))
    return out


# ---------------------------------------------------------------- (b) generated scenes
_SPEC = sv.SyntheticVideoSpec(num_classes=len(sv.SYNTHETIC_CLASSES), clips_per_class=1, frames=(16, 16),
                              size=(96, 96), noise=0.0, camera_jitter=0.0, camera_drift=0.02, zoom=0.0)


def _person(rng: np.random.Generator, base: np.ndarray):
    """A random figure (clip, frame) from the video renderer, with colours far from ``base``."""
    clip = sv._clip(_SPEC, int(rng.integers(len(sv.SYNTHETIC_CLASSES))), int(rng.integers(0, 10_000)))
    colours = {k: sv._colour_far(rng, base) for k in ("skin", "shirt", "pants")}
    return dataclasses.replace(clip, colours=colours), int(rng.integers(clip.L))


def _place(clip, f: int, box: np.ndarray, scale: float, x0: float, y0: float):
    """The clip moved so that its frame-``f`` box's top-left goes to (x0, y0), scaled by ``scale``."""
    o = box[:2]

    def move(p):  # (..., 2) px
        return (p - o) * scale + np.array([x0, y0])

    J = clip.joints_draw.copy()
    J[f] = move(J[f])
    head = clip.head_r.copy()
    head[f] *= scale
    eq = [(np.concatenate([pts[:f], move(pts[f:f + 1]), pts[f + 1:]]), col, wd * scale)
          for pts, col, wd in clip.equipment]
    return dataclasses.replace(clip, joints_draw=J, head_r=head, thickness=clip.thickness * scale, equipment=eq)


def render_scene(seed: int, index: int, size: tuple[int, int] = (192, 256), max_people: int = 4,
                 scale_range: tuple[float, float] = (0.12, 0.85)) -> tuple[np.ndarray, np.ndarray]:
    """One scene: (H, W, 3) uint8 RGB and (n, 4) float32 xyxy person boxes (1..max_people; 0 gives the
    same scene's empty background, for tests)."""
    rng = np.random.default_rng([seed, index, 0xD37])
    H, W = size
    img, base = sv._background(rng, H, W)
    img = np.ascontiguousarray(img)
    sigma, noise_seed = rng.uniform(0, 8), int(rng.integers(2 ** 31))  # drawn first: same noise for any people
    placed: list[tuple[float, object, int, np.ndarray]] = []
    for _ in range(int(rng.integers(1, max_people + 1)) if max_people > 0 else 0):
        for _try in range(20):
            clip, f = _person(rng, base)
            b = clip.bbox[f]
            bw, bh = b[2] - b[0], b[3] - b[1]
            hh = rng.uniform(*scale_range) * H
            s = hh / bh
            w = bw * s
            if w > 0.95 * W:
                continue
            x0, y0 = rng.uniform(0, W - w), rng.uniform(0, H - hh)
            nb = np.array([x0, y0, x0 + w, y0 + hh])
            if placed and max(_overlap(nb, p[3]) for p in placed) > 0.3:
                continue  # at most 30 % of either box hidden: every person stays findable
            placed.append((y0 + hh, _place(clip, f, b, s, x0, y0), f, nb))
            break
    for _, clip, f, _b in sorted(placed, key=lambda t: t[0]):  # far (higher feet) first
        sv._draw_person(img, clip, f)
    if sigma > 0.5:
        noise = np.random.default_rng(noise_seed).normal(0, sigma, img.shape).astype(np.int16)
        img = np.clip(img.astype(np.int16) + noise, 0, 255).astype(np.uint8)
    boxes = np.array([p[3] for p in placed], np.float32).reshape(-1, 4)
    boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, W)
    boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, H)
    return img, boxes


def _overlap(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over the smaller box's area."""
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    return iw * ih / (min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1])) + 1e-9)


SCENE_SIZES = ((192, 256), (256, 256), (256, 192), (240, 320))  # (H, W): letterboxing is exercised


def generate_scenes(n: int, seed: int = 0, sizes: tuple[tuple[int, int], ...] = SCENE_SIZES,
                    max_people: int = 4) -> list[DetectionSample]:
    """``n`` in-memory scenes; scene i is a function of (seed, i) only."""
    out = []
    for i in range(n):
        size = sizes[int(np.random.default_rng([seed, i, 7]).integers(len(sizes)))]
        img, boxes = render_scene(seed, i, size, max_people)
        out.append(DetectionSample(name=f"scene_{seed}_{i:05d}.jpg", width=size[1], height=size[0], boxes=boxes,
                                   labels=np.zeros(len(boxes), np.int64), image=img))
    return out


def write_coco_folder(samples: list[DetectionSample], out_dir: str | Path, quality: int = 95) -> Path:
    """Write ``images/*.jpg`` + ``annotations.json`` (COCO instances format); returns the json path."""
    out = Path(out_dir)
    (out / "images").mkdir(parents=True, exist_ok=True)
    images, anns = [], []
    for i, s in enumerate(samples):
        cv2.imwrite(str(out / "images" / s.name), cv2.cvtColor(s.load(), cv2.COLOR_RGB2BGR),
                    [cv2.IMWRITE_JPEG_QUALITY, quality])
        images.append({"id": i + 1, "file_name": s.name, "width": s.width, "height": s.height})
        for b in s.boxes:
            x1, y1, x2, y2 = (round(float(v), 2) for v in b)
            anns.append({"id": len(anns) + 1, "image_id": i + 1, "category_id": 1, "iscrowd": 0,
                         "bbox": [x1, y1, round(x2 - x1, 2), round(y2 - y1, 2)],
                         "area": round((x2 - x1) * (y2 - y1), 2)})
    path = out / "annotations.json"
    path.write_text(json.dumps({"images": images, "annotations": anns,
                                "categories": [{"id": 1, "name": "person", "supercategory": "person"}]}))
    return path


# ---------------------------------------------------------------- (c) torch dataset
def letterbox(img: np.ndarray, size: int) -> tuple[np.ndarray, float, tuple[float, float]]:
    """Resize the long side to ``size`` (aspect kept) and pad to size x size with grey 114.
    Returns the image, the scale and the (x, y) padding: letterboxed = original * scale + pad."""
    h, w = img.shape[:2]
    r = size / max(h, w)
    nw, nh = max(1, round(w * r)), max(1, round(h * r))
    resized = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_AREA if r < 1 else cv2.INTER_LINEAR)
    px, py = (size - nw) / 2, (size - nh) / 2
    top, left = int(round(py - 0.1)), int(round(px - 0.1))
    out = np.full((size, size, 3), PAD_VALUE, np.uint8)
    out[top:top + nh, left:left + nw] = resized
    return out, r, (float(left), float(top))


class DetectionDataset(Dataset):
    """Letterboxed images and boxes; ``augment``: horizontal flip (p = 0.5) and mild HSV-free
    brightness/contrast jitter."""

    def __init__(self, samples: list[DetectionSample], image_size: int, augment: bool = False, seed: int = 0) -> None:
        self.samples, self.image_size, self.augment = samples, int(image_size), augment
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> dict:
        s = self.samples[i]
        img, r, (px, py) = letterbox(s.load(), self.image_size)
        boxes = s.boxes.astype(np.float32) * r + np.array([px, py, px, py], np.float32)
        if self.augment:
            if self.rng.random() < 0.5:
                img = img[:, ::-1]
                boxes = boxes.copy()
                boxes[:, [0, 2]] = self.image_size - boxes[:, [2, 0]]
            a, b = self.rng.uniform(0.75, 1.25), self.rng.uniform(-25, 25)
            img = np.clip(img.astype(np.float32) * a + b, 0, 255)
        image = torch.from_numpy(np.ascontiguousarray(img).transpose(2, 0, 1).astype(np.float32) / 255.0)
        return {"image": image, "boxes": torch.from_numpy(boxes.reshape(-1, 4)),
                "labels": torch.from_numpy(s.labels.astype(np.int64))}


def collate_detection(batch: list[dict]) -> dict:
    """Stack images (B, 3, S, S); ``targets`` (M, 6) = [image index, class, x1, y1, x2, y2]."""
    t = [torch.cat([torch.full((len(b["labels"]), 1), float(i)), b["labels"][:, None].float(), b["boxes"]], 1)
         for i, b in enumerate(batch)]
    return {"image": torch.stack([b["image"] for b in batch]), "targets": torch.cat(t) if t else torch.zeros(0, 6)}
