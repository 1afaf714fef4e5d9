"""A thin wrapper around a TFLite interpreter, and the paths of the models bundled with mediapipe.

Why ai-edge-litert: mediapipe's Python package exposes its graphs, not a plain interpreter, and
the multi-person pipeline (``sportlens.pose.multiperson``) needs to run the bundled BlazePose
detector and landmark models on crops of its own choosing. ``ai_edge_litert`` (Google's TFLite
runtime, pinned in requirements/lock.txt) runs those ``.tflite`` files with XNNPACK on the CPU.
"""
from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# mediapipe 0.10.14 ships these two models in its wheel (see shared/NOTES.md).
_MP_MODELS = {
    "pose_detection": "modules/pose_detection/pose_detection.tflite",
    "pose_landmark_full": "modules/pose_landmark/pose_landmark_full.tflite",
}


def bundled_model(name: str) -> Path:
    """Path of a model bundled in the installed mediapipe wheel (``pose_detection``, ``pose_landmark_full``)."""
    import importlib.util

    spec = importlib.util.find_spec("mediapipe")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("mediapipe is not installed: its wheel carries the BlazePose .tflite models")
    path = Path(list(spec.submodule_search_locations)[0]) / _MP_MODELS[name]
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: this mediapipe version bundles no {name} model "
                                "(0.10.14-0.10.21 do; see shared/NOTES.md)")
    return path


LOAD_LOCK = threading.Lock()  # shared by every interpreter set-up (also pose.small_people)


class TFLiteModel:
    """One interpreter for one ``.tflite`` file. Not thread-safe: one instance per thread.

    ``run(x)`` takes the single input (with its batch axis) and returns the outputs as a dict
    output name -> array (copies, so they survive the next ``run``).
    """

    def __init__(self, path: str | Path, num_threads: int = 1):
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError as e:  # pragma: no cover - the dependency is pinned
            raise ImportError("the multi-person pose needs ai-edge-litert "
                              "(pip install --no-deps ai-edge-litert==2.3.0, see requirements/lock.txt)") from e
        with LOAD_LOCK:  # delegate set-up touches process-wide state in the runtime
            self._it = Interpreter(model_path=str(path), num_threads=max(1, int(num_threads)))
            self._it.allocate_tensors()
        inp = self._it.get_input_details()[0]
        self.input_index = inp["index"]
        self.input_shape = tuple(int(s) for s in inp["shape"])  # e.g. (1, 224, 224, 3)
        self._outputs = {d["name"]: d["index"] for d in self._it.get_output_details()}
        self.output_shapes = {d["name"]: tuple(int(s) for s in d["shape"]) for d in self._it.get_output_details()}

    def run(self, x: np.ndarray) -> dict[str, np.ndarray]:
        self._it.set_tensor(self.input_index, np.ascontiguousarray(x, dtype=np.float32))
        self._it.invoke()
        return {name: self._it.get_tensor(idx).copy() for name, idx in self._outputs.items()}
