"""Involution (Li et al. 2021), the operator of the HICNN backbone (seed 001 sec III.A, eq. 1-3).

Source: seed ``001_hicnn_psta_msgcn_pose_forecasting.txt`` sec III.A:
- eq. 1-2: convolution, ``Y_ijk = sum_c sum_(u,v in Delta_K) Theta_{k,c,u+K/2,v+K/2} X_{i+u,j+v,c}``: a
  K x K filter per output channel, shared over all positions (spatially invariant, channel specific);
- eq. 3: involution inverts both properties, ``Y_ijk = sum_(u,v in Delta_K) Psi_{i,j,u+K/2,v+K/2,ceil(kG/C)}
  X_{i+u,j+v,k}``: a K x K kernel per *position* (i, j), generated from that pixel's own feature
  X_ij, and shared by the C/G channels of each of the G groups (channel k uses group ceil(kG/C), i.e.
  the channels are split into G contiguous groups).
The kernel generator is the one of the involution paper [18]: ``Psi_ij = W_1 ReLU(BN(W_0 X_ij))``, two
1x1 convolutions C -> C/r -> K*K*G. With stride s the output pixel (i, j) sits on input pixel
(s i, s j) and its kernel is generated from that pixel (the paper average-pools instead; taking the
pixel itself is eq. 3's "tailored for the pixel X_ij" and needs no divisibility of H by s).

Data flow (B, C, H, W), output size H' = ceil(H / s)::

    x -> x[:, :, ::s, ::s] -> 1x1 conv C->C/r -> BN -> ReLU -> 1x1 conv -> (B, K*K*G, H', W')
      -> Psi (B, G, 1, K*K, H', W')
    x -> zero pad K//2 -> (B, G, C/G, H+2r, W+2r); for each offset (u, v): the shifted, strided view
         X_{i+u, j+v} (B, G, C/G, H', W')
    Y = sum over (u, v) of Psi[:, :, u, v] * view -> (B, C, H', W')                      (eq. 3)
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


class Involution2d(nn.Module):
    """Eq. 3 of seed 001: a spatially varying, channel-shared K x K kernel per pixel and group.

    ``channels`` in = out; ``groups`` G must divide ``channels`` (the paper's default is 16 channels
    per group, here G is given directly); ``reduction`` r sizes the generator's bottleneck C/r
    (at least 4 units, so tiny widths still get a usable generator). ``kernel_size`` must be odd.
    """

    def __init__(self, channels: int, kernel_size: int = 7, stride: int = 1, groups: int = 16,
                 reduction: int = 4) -> None:
        super().__init__()
        if kernel_size % 2 != 1 or kernel_size < 1:
            raise ValueError(f"kernel_size must be odd and >= 1, got {kernel_size}")
        if groups < 1 or channels % groups:
            raise ValueError(f"groups ({groups}) must divide channels ({channels})")
        if stride < 1 or reduction < 1:
            raise ValueError(f"stride and reduction must be >= 1, got {stride}, {reduction}")
        self.channels, self.kernel_size, self.stride, self.groups = channels, kernel_size, stride, groups
        hidden = max(4, channels // reduction)
        self.reduce = nn.Sequential(nn.Conv2d(channels, hidden, 1, bias=False), nn.BatchNorm2d(hidden),
                                    nn.ReLU(inplace=True))  # W_0
        self.span = nn.Conv2d(hidden, kernel_size * kernel_size * groups, 1)  # W_1

    def generate_kernel(self, x: torch.Tensor) -> torch.Tensor:
        """Psi of eq. 3 for every output pixel: (B, C, H, W) -> (B, G, K, K, H', W')."""
        b = x.shape[0]
        k, g = self.kernel_size, self.groups
        centre = x[:, :, ::self.stride, ::self.stride]  # (B, C, H', W'): the pixel each kernel is for
        psi = self.span(self.reduce(centre))  # (B, K*K*G, H', W')
        h2, w2 = psi.shape[-2:]
        return psi.reshape(b, g, k, k, h2, w2)  # (B, K*K*G, H', W') -> (B, G, K, K, H', W')

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != self.channels:
            raise ValueError(f"expected (B, {self.channels}, H, W), got {tuple(x.shape)}")
        b, c, h, w = x.shape
        k, g, s, r = self.kernel_size, self.groups, self.stride, self.kernel_size // 2
        psi = self.generate_kernel(x)  # (B, G, K, K, H', W')
        h2, w2 = psi.shape[-2:]
        xp = F.pad(x, (r, r, r, r))  # (B, C, H+2r, W+2r): zero padding
        xp = xp.reshape(b, g, c // g, h + 2 * r, w + 2 * r)  # (B, C, H+2r, W+2r) -> (B, G, C/G, H+2r, W+2r)
        y = x.new_zeros(b, g, c // g, h2, w2)
        # Sum over the K*K offsets of shifted views instead of F.unfold: unfold would materialise a
        # (B, C*K*K, H'*W') tensor (49x the feature map for K = 7); views keep the memory at O(output).
        for u in range(k):
            for v in range(k):
                patch = xp[..., u:u + s * (h2 - 1) + 1:s, v:v + s * (w2 - 1) + 1:s]  # (B, G, C/G, H', W'): X_{i+u, j+v}
                y = y + psi[:, :, u, v].unsqueeze(2) * patch  # Psi (B, G, 1, H', W') shared by the C/G channels
        return y.reshape(b, c, h2, w2)  # (B, G, C/G, H', W') -> (B, C, H', W')

    def extra_repr(self) -> str:
        return f"channels={self.channels}, kernel_size={self.kernel_size}, stride={self.stride}, groups={self.groups}"


def involution_reference(x: torch.Tensor, psi: torch.Tensor, stride: int = 1) -> torch.Tensor:
    """Eq. 3 written as loops (for the tests only; slow): ``x`` (B, C, H, W), ``psi`` (B, G, K, K, H', W')
    -> (B, C, H', W'). Pixels outside the image count as 0 (the zero padding of ``Involution2d``)."""
    b, c, h, w = x.shape
    _, g, k, _, h2, w2 = psi.shape
    r = k // 2
    y = torch.zeros(b, c, h2, w2, dtype=x.dtype)
    for ch in range(c):
        grp = ch * g // c  # 0-based form of eq. 3's ceil(kG/C) for 1-based k
        for i in range(h2):
            for j in range(w2):
                ci, cj = i * stride, j * stride  # input pixel of output (i, j)
                for u in range(-r, r + 1):
                    for v in range(-r, r + 1):
                        if 0 <= ci + u < h and 0 <= cj + v < w:
                            y[:, ch, i, j] += psi[:, grp, u + r, v + r, i, j] * x[:, ch, ci + u, cj + v]
    return y
