"""MS-GCN: multi-scale graph pose forecasting (seed 001 sec III C, eq 8-12).

Input and output (a ``ForecastModel``, see ``_common.ForecastModel``)
---------------------------------------------------------------------
``forward(x)``: ``x`` (B, T_obs, V, 3) float = normalised observed poses (x, y) plus a visibility
channel m in {0, 1} (see :func:`normalize_observed`: centred on the hip centre of the last observed
frame, divided by the window's reference length, missing joints filled, shorter windows left-padded
with m = 0). Output (B, horizon, V, 2): future poses in the same normalised frame.

Data flow (shapes for B clips, T = T_obs, V = 13 joints, P = 6 parts, D = ``hidden``)::

    x (B,T,V,3) --diff--> [pos, vel, m] (B,T,V,5)
        |                                   \\-- part pooling (P,V) mean --> (B,T,P,5)
        v                                                                 v
    eq 8 GCN (joint scale, A_j trainable)                      eq 8 GCN (part scale, A_p trainable)
        (B,T,V,D)                                                         (B,T,P,D)
        |-- temporal conv (kernel tau, stride mu), vec --> v_j (B,V,D)    |-- same --> v_p (B,P,D)
        |                                                                 |
        +------------- eq 9: r = sum_j f(v_i, v_j - v_i); h = g([v_i, r]) ---------+
                       A_jp[k, i] = softmax_i(h_p,k . h_j,i)   (B,P,V), rows sum to 1
                       A_pj[i, k] = softmax_k(h_j,i . h_p,k)   (B,V,P), rows sum to 1
        joint summary z_j = v_j + A_pj v_p' ;   part summary z_p = v_p + A_jp v_j   (cross-scale fusion)
        H^0 = tanh(Linear([z_j, A_pj z_p]))  (B,V,D)               (encoder output, GRU initial state)
    decoder, t = 0..horizon-1 (eq 10-11), P^(0) = last observed pose:
        diff(P^(t)) = [P^(t), velocity, acceleration] (B,V,6) --> r_in, u_in, c_in
        graph GRU with A_H (trainable, skeleton init): H^(t+1) (B,V,D)
        P^(t+1) = P^(t) + f_pred(H^(t+1))   (residual update, eq 11)
    output stack (B,horizon,V,2)

Loss (eq 12): the mean over windows of the L2 distance between predicted and true future poses; the
training code (``sportlens/forecast/training.py``) masks joints that are not visible in the target.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn as nn

from sportlens.skeletons import Skeleton, get_skeleton

from ._common import ForecastModel
from .registry import register_model

# Body parts of penn13 (second scale): name -> joints; the part graph links the torso to the others.
PENN13_PARTS: dict[str, tuple[str, ...]] = {
    "head": ("head",),
    "torso": ("left_shoulder", "right_shoulder", "left_hip", "right_hip"),
    "left_arm": ("left_elbow", "left_wrist"),
    "right_arm": ("right_elbow", "right_wrist"),
    "left_leg": ("left_knee", "left_ankle"),
    "right_leg": ("right_knee", "right_ankle"),
}
PART_EDGES = (("head", "torso"), ("torso", "left_arm"), ("torso", "right_arm"), ("torso", "left_leg"),
              ("torso", "right_leg"))


def normalized_adjacency(a: np.ndarray) -> np.ndarray:
    """Row-normalised D^-1 (A) of a 0/1 adjacency with self loops: (M, M) -> (M, M)."""
    return (a / a.sum(1, keepdims=True)).astype(np.float32)


def part_graph(layout: Skeleton, parts: dict[str, tuple[str, ...]] = PENN13_PARTS,
               edges: Sequence[tuple[str, str]] = PART_EDGES) -> tuple[np.ndarray, np.ndarray]:
    """(pool (P, V) mean-pooling matrix joints -> parts, adjacency (P, P) 0/1 with self loops)."""
    names = list(parts)
    pool = np.zeros((len(names), layout.num_joints), np.float32)
    for k, n in enumerate(names):
        for j in parts[n]:
            pool[k, layout.index(j)] = 1.0 / len(parts[n])
    adj = np.eye(len(names), dtype=np.float32)
    for a, b in edges:
        adj[names.index(a), names.index(b)] = adj[names.index(b), names.index(a)] = 1.0
    return pool, adj


def graph_mix(a: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``A X`` over the node axis: a (M, M), x (..., M, C) -> (..., M, C).

    Written as ``(X^T A^T)^T`` so that torch runs ONE matrix product with a 2-D right operand instead of a
    broadcast batched product (2x faster forward+backward on the CPU at B=128, T=10, D=64).
    """
    return torch.matmul(x.transpose(-1, -2), a.t()).transpose(-1, -2)  # (..., M, C)


class GraphConv(nn.Module):
    """Eq 8: P_sp = ReLU(A_s P W_s + P U_s), A_s trainable, initialised from the (normalised) skeleton."""

    def __init__(self, adjacency: np.ndarray, c_in: int, c_out: int) -> None:
        super().__init__()
        self.A = nn.Parameter(torch.tensor(adjacency))  # (M, M)
        self.W = nn.Linear(c_in, c_out, bias=False)
        self.U = nn.Linear(c_in, c_out)

    def forward(self, p: torch.Tensor) -> torch.Tensor:  # p (..., M, C)
        return torch.relu(graph_mix(self.A, self.W(p)) + self.U(p))  # (..., M, c_out)


class ScaleEncoder(nn.Module):
    """One body scale: two eq 8 GCN layers per frame, then a temporal conv (kernel tau, stride mu)
    over the frames, vectorised (flattened) and projected: v_s (B, M, D)."""

    def __init__(self, adjacency: np.ndarray, c_in: int, hidden: int, frames: int, tau: int = 3,
                 mu: int = 2) -> None:
        super().__init__()
        self.gcn1 = GraphConv(adjacency, c_in, hidden)
        self.gcn2 = GraphConv(adjacency, hidden, hidden)
        self.tconv = nn.Conv1d(hidden, hidden, tau, stride=mu, padding=tau // 2)
        t_out = (frames + 2 * (tau // 2) - tau) // mu + 1
        self.vec = nn.Linear(hidden * t_out, hidden)
        self.frames = frames

    def forward(self, p: torch.Tensor) -> torch.Tensor:  # p (B, T, M, C)
        B, T, M, _ = p.shape
        f = self.gcn2(self.gcn1(p))  # (B, T, M, D)
        f = f.permute(0, 2, 3, 1).reshape(B * M, -1, T)  # (B*M, D, T)
        f = torch.relu(self.tconv(f))  # (B*M, D, T')
        f = f.reshape(B, M, -1)  # (B, M, D*T')  vec(conv(.))
        return torch.relu(self.vec(f))  # (B, M, D)


class EdgeInference(nn.Module):
    """Eq 9 for one scale: r_i = sum_j f(v_i, v_j - v_i), h_i = g([v_i, r_i]) -> (B, M, D).

    f is a two-layer MLP ``f2(ReLU(f1([v_i, v_j - v_i])))``. Computed without building the (B, M, M, 2D)
    pair tensor (the costliest op of the first implementation): f1 is linear, so
    ``f1([v_i, v_j - v_i]) = (W_a - W_b) v_i + W_b v_j + b`` with f1's weight split ``[W_a | W_b]``, and
    f2 is linear, so ``sum_j f2(z_ij) = f2_W (sum_j z_ij) + M f2_b``. Same function, O(M D^2 + M^2 D).
    """

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.f = nn.Sequential(nn.Linear(2 * hidden, hidden), nn.ReLU(), nn.Linear(hidden, hidden))
        self.g = nn.Sequential(nn.Linear(2 * hidden, hidden), nn.ReLU(), nn.Linear(hidden, hidden))

    def forward(self, v: torch.Tensor) -> torch.Tensor:  # v (B, M, D)
        M, D = v.shape[1], v.shape[2]
        f1, f2 = self.f[0], self.f[2]
        w_a, w_b = f1.weight[:, :D], f1.weight[:, D:]  # (D, D) each: f1 acts on [v_i, v_j - v_i]
        own = torch.matmul(v, (w_a - w_b).t()) + f1.bias  # (B, M, D)  the v_i part, per i
        other = torch.matmul(v, w_b.t())  # (B, M, D)  the v_j part, per j
        z = torch.relu(own.unsqueeze(2) + other.unsqueeze(1))  # (B, M, M, D)  hidden of f for pair (i, j)
        r = torch.matmul(z.sum(2), f2.weight.t()) + M * f2.bias  # (B, M, D)  sum_j f2(z_ij)
        return self.g(torch.cat([v, r], -1))  # (B, M, D)


def bipartite_weights(h_to: torch.Tensor, h_from: torch.Tensor) -> torch.Tensor:
    """Eq 9 last line: A[k, i] = softmax_i(h_to,k^T h_from,i): (B, K, D), (B, I, D) -> (B, K, I), rows sum to 1."""
    return torch.softmax(torch.matmul(h_to, h_from.transpose(1, 2)), dim=-1)  # (B, K, I)


class GraphGRUCell(nn.Module):
    """Eq 10: gates from the input plus r/u/c_hid(A_H H W_H), A_H trainable (skeleton init)."""

    def __init__(self, adjacency: np.ndarray, c_in: int, hidden: int) -> None:
        super().__init__()
        self.A_H = nn.Parameter(torch.tensor(adjacency))  # (V, V)
        self.W_H = nn.Linear(hidden, hidden, bias=False)
        self.inp = nn.Linear(c_in, 3 * hidden)  # r_in, u_in, c_in
        self.hid = nn.Linear(hidden, 3 * hidden)  # r_hid, u_hid, c_hid

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:  # x (B, V, c_in), h (B, V, D)
        r_in, u_in, c_in = self.inp(x).chunk(3, -1)  # 3 x (B, V, D)
        r_h, u_h, c_h = self.hid(graph_mix(self.A_H, self.W_H(h))).chunk(3, -1)  # 3 x (B, V, D)
        r = torch.sigmoid(r_in + r_h)  # (B, V, D)
        u = torch.sigmoid(u_in + u_h)  # (B, V, D)
        c = torch.tanh(c_in + r * c_h)  # (B, V, D)
        return u * h + (1 - u) * c  # (B, V, D)


class MSGCN(ForecastModel):
    """Multi-scale graph encoder + graph-GRU decoder with residual updates (module docstring).

    Ablation switches (``benchmarks/bench_forecast.py --ablations``), each removing one idea of sec III C:
    - ``multiscale=False``: the joint scale only; no part pooling, no part encoder, no eq 9 cross-scale
      fusion (the fused term of H^0 is zero; ``last_fusion`` stays empty; the part modules exist but are
      unused, so checkpoints keep one layout);
    - ``trainable_adjacency=False``: every A_s of eq 8 (both scales, both layers) and A_H of eq 10 stay the
      row-normalised skeleton graphs (``requires_grad`` False; the optimiser never sees them);
    - ``use_velocity=False``: positions only: the encoder's velocity channels are zero and the decoder's
      diff(P) input of eq 11 carries zero velocity and acceleration.
    """

    def __init__(self, skeleton: str = "penn13", num_frames: int = 10, horizon: int = 16, hidden: int = 64,
                 multiscale: bool = True, trainable_adjacency: bool = True, use_velocity: bool = True) -> None:
        super().__init__(skeleton=skeleton, num_frames=num_frames, horizon=horizon, in_channels=3)
        layout = get_skeleton(skeleton)
        if skeleton != "penn13":
            raise ValueError("msgcn defines body parts for penn13 only")
        self.hidden, self.multiscale, self.use_velocity = int(hidden), bool(multiscale), bool(use_velocity)
        a_joint = normalized_adjacency(layout.adjacency(self_loops=True))  # (V, V)
        pool, a_part = part_graph(layout)
        a_part = normalized_adjacency(a_part)  # (P, P)
        self.register_buffer("pool", torch.tensor(pool))  # (P, V)
        self.register_buffer("A_joint_init", torch.tensor(a_joint))  # (V, V)
        self.register_buffer("A_part_init", torch.tensor(a_part))  # (P, P)
        c_in = 5  # pos (2) + vel (2) + visibility (1)
        self.enc_joint = ScaleEncoder(a_joint, c_in, hidden, num_frames)
        self.enc_part = ScaleEncoder(a_part, c_in, hidden, num_frames)
        self.edge_joint = EdgeInference(hidden)
        self.edge_part = EdgeInference(hidden)
        self.init_h = nn.Linear(2 * hidden + 2, hidden)
        self.gru = GraphGRUCell(a_joint, 6, hidden)
        self.f_pred = nn.Linear(hidden, 2)
        nn.init.zeros_(self.f_pred.weight)
        nn.init.zeros_(self.f_pred.bias)  # starts as zero velocity
        if not trainable_adjacency:
            for p in (self.enc_joint.gcn1.A, self.enc_joint.gcn2.A, self.enc_part.gcn1.A, self.enc_part.gcn2.A,
                      self.gru.A_H):
                p.requires_grad_(False)
        self.last_fusion: dict[str, torch.Tensor] = {}

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, V, 3) -> H^0 (B, V, D); stores eq 9 weights in ``last_fusion``."""
        pos, m = x[..., :2], x[..., 2:3]  # (B, T, V, 2), (B, T, V, 1)
        vel = torch.cat([torch.zeros_like(pos[:, :1]), pos[:, 1:] - pos[:, :-1]], 1)  # (B, T, V, 2)
        if not self.use_velocity:
            vel = torch.zeros_like(vel)
        feat = torch.cat([pos, vel, m], -1)  # (B, T, V, 5)
        v_j = self.enc_joint(feat)  # (B, V, D)
        if self.multiscale:
            feat_p = torch.matmul(self.pool, feat)  # (B, T, P, 5)
            v_p = self.enc_part(feat_p)  # (B, P, D)
            h_j, h_p = self.edge_joint(v_j), self.edge_part(v_p)  # (B, V, D), (B, P, D)
            a_pj = bipartite_weights(h_p, h_j)  # (B, P, V)  part k <- joint i
            a_jp = bipartite_weights(h_j, h_p)  # (B, V, P)  joint i <- part k
            self.last_fusion = {"part_from_joint": a_pj, "joint_from_part": a_jp}
            z_p = v_p + torch.matmul(a_pj, v_j)  # (B, P, D)
            back = torch.matmul(a_jp, z_p)  # (B, V, D)
        else:
            back = torch.zeros_like(v_j)  # (B, V, D)
        last = pos[:, -1]  # (B, V, 2)
        return torch.tanh(self.init_h(torch.cat([v_j, back, last], -1)))  # (B, V, D)

    def forward(self, x: torch.Tensor, horizon: int | None = None) -> torch.Tensor:
        x = self.check_input(x)  # (B, T, V, 3)
        H = self.horizon if horizon is None else int(horizon)
        h = self.encode(x)  # (B, V, D)
        p = x[:, -1, :, :2]  # (B, V, 2)  P^(0)
        v = x[:, -1, :, :2] - x[:, -2, :, :2] if x.shape[1] > 1 else torch.zeros_like(p)  # (B, V, 2)
        if not self.use_velocity:
            v = torch.zeros_like(v)
        a = torch.zeros_like(p)  # (B, V, 2)
        outs = []
        for _ in range(H):
            h = self.gru(torch.cat([p, v, a], -1), h)  # (B, V, D)  eq 10, input diff(P^(t))
            p_new = p + self.f_pred(h)  # (B, V, 2)  eq 11
            v_new = p_new - p  # (B, V, 2)
            a = v_new - v if self.use_velocity else a  # (B, V, 2)
            v = v_new if self.use_velocity else v
            p = p_new
            outs.append(p)
        return torch.stack(outs, 1)  # (B, H, V, 2)


@register_model
def msgcn(skeleton: str = "penn13", num_frames: int = 10, horizon: int = 16, hidden: int = 64,
          multiscale: bool = True, trainable_adjacency: bool = True, use_velocity: bool = True) -> MSGCN:
    """MS-GCN pose forecaster (seed 001 sec III C): (B, num_frames, V, 3) -> (B, horizon, V, 2)."""
    return MSGCN(skeleton=skeleton, num_frames=num_frames, horizon=horizon, hidden=hidden, multiscale=multiscale,
                 trainable_adjacency=trainable_adjacency, use_velocity=use_velocity)
