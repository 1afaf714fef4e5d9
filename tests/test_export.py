"""ONNX export of every registered model, checked in ONNX Runtime (fast, CPU)."""
from __future__ import annotations

import inspect
import subprocess
import sys

import pytest
import torch

from sportlens.engine.checkpoint import save_checkpoint
from sportlens.engine.export import export_onnx
from sportlens.models import create_model, list_models
from sportlens.models.registry import model_entrypoint

# Small sizes keep the export fast; a model missing here is exported at its defaults.
SMALL: dict[str, dict] = {
    "stgcn": dict(channels=(16, 32)), "psta": dict(dim=32, depth=1), "mhssa": dict(dim=32, depth=1),
    "lstm_attn": dict(hidden=32, attn_dim=32), "tcn": dict(width=32), "tcn_ensemble": dict(width=16),
    "sportnet_pose": dict(hidden=32),
    "sportnet": dict(image_size=32, num_frames=2, width=8), "cnn_lstm": dict(image_size=32, num_frames=2, width=8,
                                                                             backbone="resnet18"),
    "c3d_attn": dict(image_size=32, num_frames=4, width=8),
    "two_stream": dict(image_size=32, num_frames=2, width=8, flow_stack=2),
    "hicnn_psta": dict(image_size=32, num_frames=2, width=16, heatmap_size=8),
    "yolov5s_cbam": dict(image_size=64, width=0.125, depth=0.33, swin=True),
    "msgcn": dict(hidden=16), "seq2seq": dict(hidden=16), "trajgcn": dict(hidden=16, blocks=1),
}


def takes_classes(name: str) -> bool:
    """Classifiers take num_classes; pose forecasters (ForecastModel) do not."""
    return "num_classes" in inspect.signature(model_entrypoint(name)).parameters


pytestmark = pytest.mark.usefixtures("one_thread")


def checkpoint(tmp_path, name):
    kw = {**({"num_classes": 4} if takes_classes(name) else {}), **SMALL.get(name, {})}
    torch.manual_seed(0)
    model = create_model(name, **kw)
    return save_checkpoint(tmp_path / f"{name}.pt", model_name=name, model_kwargs=kw, model=model,
                           classes=list("abcd"), data_spec={}, epoch=0, metrics={}, config={})


@pytest.mark.parametrize("name", list_models())
def test_every_model_exports_and_matches_onnx_runtime(tmp_path, name):
    info = export_onnx(checkpoint(tmp_path, name), tmp_path / f"{name}.onnx")
    assert (tmp_path / f"{name}.onnx").stat().st_size > 0
    assert info["max_abs_diff"] < 1e-4
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_export_cli_and_bad_input(tmp_path):
    ckpt = checkpoint(tmp_path, "tcn")
    done = subprocess.run([sys.executable, "-m", "sportlens", "export", str(ckpt), "--format", "onnx"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert ckpt.with_suffix(".onnx").is_file() and "ONNX Runtime matches PyTorch" in done.stderr
    for args, message in [([str(tmp_path / "missing.pt")], "no such checkpoint"),
                          ([str(ckpt), "--format", "tflite"], "unknown --format"),
                          ([str(tmp_path / "x.yaml")], "no such checkpoint")]:
        bad = subprocess.run([sys.executable, "-m", "sportlens", "export", *args], capture_output=True, text=True,
                             timeout=300)
        assert bad.returncode != 0 and message in bad.stderr and "Traceback" not in bad.stderr
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    bad = subprocess.run([sys.executable, "-m", "sportlens", "export", str(tmp_path / "junk.pt")],
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode != 0 and "junk.pt" in bad.stderr and "Traceback" not in bad.stderr
    assert not (tmp_path / "junk.onnx").exists()
