"""Pose forecasting (issue 6): evaluation protocols and baselines (numpy), `training` for the learned
`msgcn` forecaster (train_msgcn, MsgcnForecaster), and `knn` for the motion-matching forecaster
(KnnForecaster, KnnConfig: exported lazily, as `knn` imports `training` and so torch)."""
from sportlens.forecast.baselines import constant_velocity, zero_velocity
from sportlens.forecast.protocols import (
    ForecastWindows,
    evaluate,
    joint_angle_triplets,
    protocol_a_windows,
    protocol_b_windows,
    reference_length,
)

__all__ = ["ForecastWindows", "KnnConfig", "KnnForecaster", "constant_velocity", "evaluate", "joint_angle_triplets", "protocol_a_windows",
           "protocol_b_windows", "reference_length", "zero_velocity"]


def __getattr__(name: str):
    if name in ("KnnConfig", "KnnForecaster"):
        from sportlens.forecast import knn

        return getattr(knn, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
