"""Models: action recognition (skeleton and video) and the seed 002 person detector (layer 4: pure
``nn.Module``s, no I/O, no training code).

Importing this package registers every built-in model in the one registry
(:mod:`sportlens.models.registry`); build one with ``create_model(name, **kwargs)`` and list them
with ``list_models()``. A new model is a module here with a ``@register_model`` function, imported
below.

Common interface of every recognition model
-------------------------------------------
- **Input** ``x``: float tensor of shape ``(B, T, V, C)``: B clips, T frames, V joints of the layout
  ``skeleton`` (``penn13`` V=13, ``coco17`` V=17, ``blazepose33`` V=33), C = ``in_channels`` per joint,
  by default 5 = the SportNet sec 2.4 encoding (seed 000): x, y normalised to the person box, their
  frame differences dx, dy, and the visibility mask m. Missing joints should be zero-filled with
  m = 0; non-finite values are zeroed by the model as a safeguard. T may differ from ``num_frames``
  (all models accept any T >= 1; ST-GCN needs no minimum either).
- **Output**: logits of shape ``(B, num_classes)`` (apply softmax for probabilities).
- **Keyword arguments** shared by every model function: ``num_classes: int = 15`` (Penn Action),
  ``skeleton: str = "penn13"``, ``in_channels: int = 5``, ``num_frames: int = 32`` (the clip length the
  model is built for; sizes the learned temporal position embeddings), then the model's own
  hyper-parameters (all keyword, all with defaults).
- **Attributes** of the returned module, for checking a checkpoint against the data:
  ``skeleton`` (layout name), ``in_channels``, ``num_classes``, ``num_frames``, ``num_joints``.

Models (``name``: own kwargs with defaults; source)
---------------------------------------------------
- ``sportnet_pose``: ``hidden=256, num_layers=2, dropout=0.5``; SportNet pose branch, per-frame MLP
  + temporal mean pooling (seed 000 sec 2.4-2.6).
- ``stgcn``: ``channels=(32, 64, 64, 128, 128, 256), partition="spatial"|"uniform", kernel_t=9,
  dropout=0.5, block_dropout=0.0, edge_importance=True``; ST-GCN (Yan et al. 2018).
- ``psta``: ``dim=64, depth=3, heads=2 (per group), mlp_ratio=2.0, dropout=0.1, head_dropout=0.3``;
  parallel spatial-temporal attention over joint tokens (seed 001 eq. 4-5).
- ``mhssa``: ``dim=128, depth=2, heads=2, attention="sigmoid"|"softmax", mlp_ratio=2.0, dropout=0.1,
  head_dropout=0.3``; multi-head sigmoid self-attention over frames (seed 004 eq. 10-14).
- ``lstm_attn``: ``hidden=128, num_layers=2, bidirectional=True, attn_dim=128, dropout=0.5``;
  BN + LSTM + temporal attention, weights in ``model.last_attention`` (B, T) (seed 003 eq. 2-7).
- ``tcn``: ``width=256, num_layers=3, kernel_size=5, dropout=0.5``; temporal CNN baseline over
  frames with average + max pooling (``shared/NOTES.md`` baseline).
- ``tcn_ensemble``: ``streams=None, width=256, ...`` (tcn's); two ``tcn`` members on channel groups
  (by default, with the 9-channel ``sportnet_global`` encoding: the SportNet view and the clip view),
  late fusion of probabilities; ``member_logits(x)`` (B, S, K) for ``StreamEnsembleTask``.
- ``tcn_multistream``: ``streams="jgb", width=256, ...`` (tcn's); one ``tcn`` per view of the 19-channel
  ``multistream`` encoding (joints per-frame box / clip frame, bones, angles; presets in
  ``ensemble.MULTISTREAM_PRESETS``), late fusion as ``tcn_ensemble``.

Video models (``VideoModel``: keyword inputs ``rgb``/``pose``/``flow``, see ``_common.VideoModel``):
``sportnet`` (seed 000), ``c3d_attn`` (seed 002), ``cnn_lstm`` (seed 003), ``two_stream`` (seed 004),
``hicnn_psta`` (seed 001; ``forward_multitask`` adds joint heatmaps). Detector (``DetectorModel``):
``yolov5s_cbam`` (seed 002), raw head outputs; decoding, losses and NMS in ``engine/detection.py``.
Pose forecaster (``ForecastModel``): ``msgcn`` (seed 001 sec III C), normalised observed poses
(B, T_obs, V, 3) -> (B, horizon, V, 2); training and the benchmark predictor in ``forecast/training.py``.
"""
from __future__ import annotations

from . import (  # noqa: F401  (registers the models)
    c3d_attn, cnn_lstm, ensemble, hicnn_psta, lstm_attn, mhssa, msgcn, psta, sportnet, stgcn, tcn, two_stream, yolo,
)
from . import seq2seq  # noqa: F401,E402  (GRU seq2seq forecaster, issue 6)
from . import trajgcn  # noqa: F401,E402  (DCT + GCN forecaster, issue 6)
from ._common import DetectorModel, ForecastModel, SkeletonModel, VideoModel
from .registry import create_model, list_models, register_model

__all__ = ["DetectorModel", "ForecastModel", "SkeletonModel", "VideoModel", "create_model", "list_models",
           "register_model"]
