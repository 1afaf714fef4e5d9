"""Pose forecasting (issue 6): evaluation protocols and baselines (numpy), and `training` for the learned
`msgcn` forecaster (train_msgcn, MsgcnForecaster)."""
from sportlens.forecast.baselines import constant_velocity, zero_velocity
from sportlens.forecast.protocols import (
    ForecastWindows,
    evaluate,
    joint_angle_triplets,
    protocol_a_windows,
    protocol_b_windows,
    reference_length,
)

__all__ = ["ForecastWindows", "constant_velocity", "evaluate", "joint_angle_triplets", "protocol_a_windows",
           "protocol_b_windows", "reference_length", "zero_velocity"]
