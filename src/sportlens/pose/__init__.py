"""Pose estimation: the estimator interface and backends, the parallel video runner, cleaning."""
from sportlens.pose import blazepose as _blazepose  # noqa: F401  (registers the "blazepose" backend)
from sportlens.pose.base import PoseEstimator, create_estimator, list_backends, register_backend

__all__ = ["PoseEstimator", "create_estimator", "list_backends", "register_backend"]
