"""MiniRocket-style random convolutional features for multichannel sequences (numpy only).

Why by hand: the reference implementations (sktime, aeon) are heavy dependencies (numba, their own
estimator stacks) for about a hundred lines of numpy; this follows MiniRocket (Dempster, Schmidt, Webb,
KDD 2021, "MINIROCKET: a very fast (almost) deterministic transform for time series classification"):

- 84 kernels of length 9, weights -1 at six positions and 2 at three (every choice of three of nine): a
  kernel's output is ``-sum of the 9 taps + 3 * (sum of its 3 chosen taps)``, so one shifted stack per
  dilation serves all 84 kernels.
- dilations ``floor(2 ** linspace(0, log2((L - 1) / 8)))`` (made unique), the features spread over them.
- each (dilation, kernel) sums a random subset of 1-9 channels (multivariate MiniRocket), fixed by the seed.
- biases: quantiles (a low-discrepancy sequence) of that kernel's output on one random *training*
  sequence, so ``fit`` sees only training data.
- feature: PPV, the proportion of time steps where the output exceeds the bias; every other
  (dilation, kernel) uses the output without the zero-padded ends.

Everything is deterministic for a given seed. ``transform`` of one sequence depends on that sequence and
the fitted kernels only.
"""
from __future__ import annotations

from itertools import combinations

import numpy as np

KERNEL_LEN = 9
KERNELS = np.array(list(combinations(range(KERNEL_LEN), 3)))  # (84, 3) positions of the weight-2 taps
GOLDEN = (np.sqrt(5.0) + 1.0) / 2.0


def dilations(length: int, n_features: int, max_dilations: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """(dilations (D,), features per kernel at each dilation (D,)) as in MiniRocket's ``fit_dilations``."""
    per_kernel = max(n_features // len(KERNELS), 1)
    n_dil = min(per_kernel, max_dilations)
    top = np.log2(max((length - 1) / (KERNEL_LEN - 1), 1.0))
    dil, counts = np.unique(np.floor(np.logspace(0, top, n_dil, base=2)).astype(int), return_counts=True)
    per_dil = (counts * per_kernel / n_dil).astype(int)
    per_dil[: per_kernel - per_dil.sum()] += 1  # the remainder, to the smallest dilations
    return dil, per_dil


def kernel_output(x: np.ndarray, dilation: int, kernel: int) -> np.ndarray:
    """(N, L) channel sums -> (N, L) output of kernel ``kernel`` (of ``KERNELS``) at ``dilation``, zero
    padding, same length."""
    pad = (KERNEL_LEN - 1) * dilation // 2
    xp = np.pad(x, ((0, 0), (pad, pad)))
    taps = np.stack([xp[:, k * dilation: k * dilation + x.shape[1]] for k in range(KERNEL_LEN)])  # (9, N, L)
    return -taps.sum(0) + 3.0 * taps[KERNELS[kernel]].sum(0)


class MiniRocket:
    """``fit(x)`` on (N, L, C) training sequences, ``transform(x)`` -> (N, F) PPV features."""

    def __init__(self, n_features: int = 10_000, seed: int = 0):
        self.n_features, self.seed = n_features, seed

    def fit(self, x: np.ndarray) -> "MiniRocket":
        x = np.asarray(x, dtype=np.float64)  # (N, L, C)
        n, length, n_ch = x.shape
        rng = np.random.default_rng(self.seed)
        self.dilations_, per_dil = dilations(length, self.n_features)
        q = (np.arange(1, len(KERNELS) * per_dil.sum() + 1) * GOLDEN) % 1  # low-discrepancy quantiles
        self.channels_, self.biases_, used = [], [], 0
        max_ch = min(n_ch, KERNEL_LEN)
        for d, f in zip(self.dilations_, per_dil):
            chans = [rng.choice(n_ch, int(2 ** rng.uniform(0, np.log2(max_ch + 1))), replace=False)
                     for _ in KERNELS]  # multivariate: which channels each kernel sums
            pick = rng.integers(0, n, len(KERNELS))  # one training sequence per kernel for its biases
            out = [kernel_output(x[pick[k]][None, :, c].sum(-1), int(d), k)[0] for k, c in enumerate(chans)]
            self.channels_.append(chans)
            self.biases_.append(np.stack([np.quantile(out[k], q[used + k * f: used + (k + 1) * f])
                                          for k in range(len(KERNELS))]))  # (84, f)
            used += len(KERNELS) * f
        return self

    def transform(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        feats = []
        for i, (d, chans, biases) in enumerate(zip(self.dilations_, self.channels_, self.biases_)):
            pad = (KERNEL_LEN - 1) * int(d) // 2
            for k, c in enumerate(chans):
                out = kernel_output(x[:, :, c].sum(-1), int(d), k)  # (N, L)
                if (i + k) % 2 and out.shape[1] > 2 * pad:  # every other one: without the padded ends
                    out = out[:, pad:out.shape[1] - pad]
                feats.append((out[:, :, None] > biases[k]).mean(1))  # (N, f) PPV
        return np.concatenate(feats, axis=1)


class RocketLearner:
    """MiniRocket + standardised logistic regression (``Ridge`` for continuous labels) on flattened sequences,
    ``n_seeds`` times with other random kernels (seeds ``seed * n_seeds + i``), outputs averaged.

    ``fit(x, y)``: ``x`` (N, frames * K), frame-major (``quality`` "sequence" view). Each channel is divided by
    its standard deviation over the training frames first: a kernel sums a random subset of channels, which
    must be in comparable units (torso lengths, degrees, unit-vector components). Probabilities come straight
    from the logistic regressions (heavily regularised, ``c``), so they can be averaged with the trees'. Why
    several seeds: which channels a kernel sums is random, and on UI-PRMD one MiniRocket's LOSO accuracy moved
    by about a point from seed to seed (``quality`` module docstring); the average is steadier."""

    def __init__(self, frames: int, n_features: int = 5_000, c: float = 0.01, seed: int = 0,
                 regression: bool = False, n_seeds: int = 2):
        self.frames, self.n_features, self.c, self.seed = frames, n_features, c, seed
        self.regression, self.n_seeds = regression, n_seeds

    def _sequences(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if x.shape[1] % self.frames:
            raise ValueError(f"{x.shape[1]} columns are not {self.frames} frames of whole channels")
        return x.reshape(len(x), self.frames, -1)  # (N, L, K)

    def fit(self, x: np.ndarray, y: np.ndarray) -> "RocketLearner":
        from sklearn.linear_model import LogisticRegression, Ridge
        from sklearn.preprocessing import StandardScaler

        seq = self._sequences(x)
        self.scale_ = seq.reshape(-1, seq.shape[2]).std(axis=0) + 1e-6
        self.parts_ = []  # (MiniRocket, StandardScaler, linear model) per seed
        for i in range(self.n_seeds):
            rocket = MiniRocket(self.n_features, self.seed * self.n_seeds + i).fit(seq / self.scale_)
            f = rocket.transform(seq / self.scale_)
            scaler = StandardScaler().fit(f)
            last = Ridge(alpha=1.0 / self.c) if self.regression else LogisticRegression(C=self.c, max_iter=3000)
            self.parts_.append((rocket, scaler, last.fit(scaler.transform(f), y)))
        if not self.regression:
            self.classes_ = self.parts_[0][2].classes_
        return self

    def _outputs(self, x: np.ndarray, method: str) -> np.ndarray:
        seq = self._sequences(x) / self.scale_
        return np.mean([getattr(m, method)(s.transform(r.transform(seq))) for r, s, m in self.parts_], axis=0)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        return self._outputs(x, "predict_proba")

    def predict(self, x: np.ndarray) -> np.ndarray:
        if self.regression:
            return self._outputs(x, "predict")
        return self.classes_[np.argmax(self.predict_proba(x), axis=1)]
