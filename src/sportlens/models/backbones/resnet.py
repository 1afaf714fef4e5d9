"""ResNet-18/34/50 (He et al. 2016) written here because torchvision cannot be used on these machines.

Module and parameter names follow torchvision's ``torchvision.models.resnet`` exactly (``conv1``,
``bn1``, ``layer1.0.conv1``, ``layer1.0.downsample.0``, ``fc``...), so ``load_torchvision_weights``
can read a torchvision ImageNet state dict file when a user has one (nothing is downloaded).

Data flow (ResNet-18, 224x224 input)::

    x (N,C,224,224) -> conv7x7/2 -> BN -> ReLU -> maxpool/2      (N, 64, 56, 56)
      -> layer1 (N,64,56,56) -> layer2 (N,128,28,28) -> layer3 (N,256,14,14) -> layer4 (N,512,7,7)
      = forward_features(x);  forward(x) = fc(mean over h, w)   (N, num_classes)
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        idt = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)) + idt)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)  # stride on the 3x3 (torchvision v1.5)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        idt = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        return self.relu(self.bn3(self.conv3(out)) + idt)


class ResNet(nn.Module):
    """``forward_features(x)``: (N, C, H, W) -> (N, feature_dim, H/32, W/32); ``forward``: logits."""

    def __init__(self, block: type[BasicBlock] | type[Bottleneck], layers: list[int], in_channels: int = 3,
                 num_classes: int = 1000, width: int = 64) -> None:
        super().__init__()
        self.inplanes = width
        self.conv1 = nn.Conv2d(in_channels, width, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = self._make_layer(block, width, layers[0])
        self.layer2 = self._make_layer(block, width * 2, layers[1], stride=2)
        self.layer3 = self._make_layer(block, width * 4, layers[2], stride=2)
        self.layer4 = self._make_layer(block, width * 8, layers[3], stride=2)
        self.feature_dim = width * 8 * block.expansion
        self.fc = nn.Linear(self.feature_dim, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        for m in self.modules():  # zero-init the last BN of each block: every block starts as identity
            if isinstance(m, Bottleneck):
                nn.init.zeros_(m.bn3.weight)
            elif isinstance(m, BasicBlock):
                nn.init.zeros_(m.bn2.weight)

    def _make_layer(self, block, planes: int, blocks: int, stride: int = 1) -> nn.Sequential:
        down = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            down = nn.Sequential(nn.Conv2d(self.inplanes, planes * block.expansion, 1, stride, bias=False),
                                 nn.BatchNorm2d(planes * block.expansion))
        layers = [block(self.inplanes, planes, stride, down)]
        self.inplanes = planes * block.expansion
        layers += [block(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def stem(self, x: torch.Tensor) -> torch.Tensor:
        return self.maxpool(self.relu(self.bn1(self.conv1(x))))  # (N, width, H/4, W/4)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))  # (N, feature_dim, H/32, W/32)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.forward_features(x).mean(dim=(2, 3)))  # (N, num_classes)


def resnet18(in_channels: int = 3, width: int = 64, **kw) -> ResNet:
    return ResNet(BasicBlock, [2, 2, 2, 2], in_channels, width=width, **kw)


def resnet34(in_channels: int = 3, width: int = 64, **kw) -> ResNet:
    return ResNet(BasicBlock, [3, 4, 6, 3], in_channels, width=width, **kw)


def resnet50(in_channels: int = 3, width: int = 64, **kw) -> ResNet:
    return ResNet(Bottleneck, [3, 4, 6, 3], in_channels, width=width, **kw)


BACKBONES = {"resnet18": resnet18, "resnet34": resnet34, "resnet50": resnet50}


def load_torchvision_weights(net: ResNet, path: str | Path, *, strict_backbone: bool = True) -> list[str]:
    """Copy a torchvision-format ResNet state dict (``resnet18-f37072fd.pth``...) into ``net``.

    ``fc.*`` is skipped (the class count differs). When ``net``'s first convolution takes a
    different number of channels than the file's (3), the file's kernel is averaged over its input
    channels and repeated: the cross-modality initialisation of seed 004 eq. 6 (optical-flow stream).
    Returns the skipped keys. Raises ``ValueError`` naming the file on any other mismatch.
    """
    state = torch.load(Path(path), map_location="cpu", weights_only=True)
    state = state.get("state_dict", state) if isinstance(state, dict) else state
    own = net.state_dict()
    skipped = []
    for k, v in state.items():
        if k.startswith("fc.") or k not in own:
            skipped.append(k)
            continue
        if k == "conv1.weight" and v.shape[1] != own[k].shape[1]:
            v = cross_modality_init(v, own[k].shape[1])
        if v.shape != own[k].shape:
            raise ValueError(f"{path}: {k} has shape {tuple(v.shape)}, the model expects {tuple(own[k].shape)} "
                             "(a different ResNet depth or width?)")
        own[k] = v
    missing = [k for k in own if k not in state and not k.startswith("fc.") and not k.endswith("num_batches_tracked")]
    if strict_backbone and missing:
        raise ValueError(f"{path}: not a torchvision ResNet of this depth; missing {missing[:5]}")
    net.load_state_dict(own)
    return skipped


def cross_modality_init(w: torch.Tensor, in_channels: int) -> torch.Tensor:
    """Seed 004 eq. 6: average an RGB kernel (O, 3, k, k) over its input channels and replicate it to
    ``in_channels`` channels (O, in_channels, k, k)."""
    return w.mean(dim=1, keepdim=True).expand(-1, in_channels, -1, -1).contiguous()
