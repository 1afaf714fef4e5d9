"""CNN-LSTM with temporal attention on RGB frames (seed 003, sec 3.2-3.3, eq. 2-7).

Source: seed ``003_cnn_lstm_biomechanics.txt``:
- sec 3.1 (2), eq. 1: key frames by frame difference; that is video preprocessing and lives in
  :func:`sportlens.video.keyframes.select_key_frames`; the model takes the T frames it is given;
- sec 3.2 (2): f(x_t) = the penultimate-layer feature of ResNet-50 (global average pooled,
  d = 2048 at the standard width), ImageNet-pretrained when a weights file is given (``pretrained``);
- sec 3.2 (3), eq. 2-7: h_t = LSTM(f(x_t), h_{t-1}) with input, forget, output gates and cell state
  (eq. 3-7); ``nn.LSTM`` implements exactly eq. 2-7 (PyTorch adds a second bias vector per gate,
  which is the same function);
- sec 3.3 (1): BatchNorm "applied to both the input and hidden layers of the LSTM" (the CNN features,
  and between stacked LSTM layers), Dropout (50 %) on the LSTM's hidden layers;
- sec 1 / 3.2: "attention weights are calculated for each time step": additive attention
  alpha_t = softmax_t(w^T tanh(W h_t + b)), context c = sum_t alpha_t h_t, classifier on c. The
  weights of the last forward pass are kept in ``self.last_attention`` (B, T), detached, to show
  which frames decided the class.
The skeleton counterpart (pose vectors instead of CNN features) is ``lstm_attn``.

Data flow (ResNet-50, 224 x 224)::

    rgb (B,T,3,H,W) -> (B*T, 3, H, W) -> ResNet-50 features (B*T, 2048, 7, 7)
      -> mean over h, w: f(x_t) (B*T, 2048) -> (B, T, 2048) -> BN over the 2048 features
      -> [LSTM layer (B, T, H) -> BN -> Dropout] x num_layers                     (eq. 2-7)
      -> scores w^T tanh(W h_t + b) (B, T) -> softmax over T -> alpha (B, T)
      -> context sum_t alpha_t h_t (B, H) -> Dropout -> Linear -> (B, num_classes)
"""
from __future__ import annotations

import torch
import torch.nn as nn

from ._common import VideoModel
from .backbones.resnet import BACKBONES, load_torchvision_weights
from .registry import register_model


def _bn_time(bn: nn.BatchNorm1d, h: torch.Tensor) -> torch.Tensor:
    """BatchNorm1d over the feature axis of a (B, T, F) tensor (statistics over B and T)."""
    return bn(h.transpose(1, 2)).transpose(1, 2)  # (B, F, T) -> (B, T, F)


class CNNLSTM(VideoModel):
    inputs = ("rgb",)

    def __init__(self, num_classes: int = 15, num_frames: int = 16, image_size: int = 224,
                 backbone: str = "resnet50", hidden: int = 256, num_layers: int = 1, dropout: float = 0.5,
                 pretrained: str = "", width: int = 64, attn_dim: int = 128) -> None:
        super().__init__(num_classes, num_frames, image_size)
        if backbone not in BACKBONES:
            raise KeyError(f"unknown backbone {backbone!r}; available: {', '.join(sorted(BACKBONES))}")
        if num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {num_layers}")
        self.backbone = BACKBONES[backbone](in_channels=3, width=width)
        self.backbone.fc = nn.Identity()  # ImageNet head unused: f(x_t) is the penultimate feature
        if pretrained:
            load_torchvision_weights(self.backbone, pretrained)
        d_in = self.backbone.feature_dim
        self.input_bn = nn.BatchNorm1d(d_in)
        self.lstms, self.bns = nn.ModuleList(), nn.ModuleList()
        for _ in range(num_layers):  # one nn.LSTM per layer so BN can sit between layers (sec 3.3)
            self.lstms.append(nn.LSTM(d_in, hidden, batch_first=True))
            self.bns.append(nn.BatchNorm1d(hidden))
            d_in = hidden
        self.drop = nn.Dropout(dropout)
        self.attn_proj = nn.Linear(hidden, attn_dim)  # W, b
        self.attn_vec = nn.Linear(attn_dim, 1, bias=False)  # w
        self.fc = nn.Linear(hidden, num_classes)
        self.last_attention: torch.Tensor | None = None  # (B, T)

    def frame_features(self, rgb: torch.Tensor) -> torch.Tensor:
        """f(x_t) for every frame: (B, T, 3, H, W) -> (B, T, feature_dim)."""
        b, t = rgb.shape[:2]
        x = self.backbone.forward_features(rgb.flatten(0, 1))  # (B*T, 3, H, W) -> (B*T, D, h, w)
        return x.mean(dim=(2, 3)).reshape(b, t, -1)  # (B*T, D) -> (B, T, D)

    def forward(self, rgb: torch.Tensor) -> torch.Tensor:
        h = _bn_time(self.input_bn, self.frame_features(self.check_video(rgb)))  # (B, T, D)
        for lstm, bn in zip(self.lstms, self.bns):
            h, _ = lstm(h)  # (B, T, hidden): eq. 2-7
            h = self.drop(_bn_time(bn, h))  # (B, T, hidden)
        scores = self.attn_vec(torch.tanh(self.attn_proj(h))).squeeze(-1)  # (B, T, 1) -> (B, T)
        alpha = scores.softmax(dim=1)  # (B, T)
        self.last_attention = alpha.detach()
        ctx = (alpha.unsqueeze(-1) * h).sum(dim=1)  # (B, T, hidden) -> (B, hidden)
        return self.fc(self.drop(ctx))  # (B, num_classes)


@register_model
def cnn_lstm(num_classes: int = 15, num_frames: int = 16, image_size: int = 224, backbone: str = "resnet50",
             hidden: int = 256, num_layers: int = 1, dropout: float = 0.5, pretrained: str = "",
             width: int = 64, attn_dim: int = 128) -> CNNLSTM:
    """CNN-LSTM of seed 003: ResNet frame features, BN, LSTM (eq. 2-7), temporal attention (weights in
    ``last_attention`` (B, T)), classifier. ``pretrained``: path to a torchvision ResNet state dict."""
    return CNNLSTM(num_classes, num_frames, image_size, backbone=backbone, hidden=hidden,
                   num_layers=num_layers, dropout=dropout, pretrained=pretrained, width=width,
                   attn_dim=attn_dim)
