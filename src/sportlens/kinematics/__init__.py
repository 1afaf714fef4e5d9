"""Biomechanics from 2D pose tracks: joint/segment angles, metrics, centre of mass.

Pure numpy; conventions are documented in ``sportlens.kinematics.angles``.
"""
from sportlens.kinematics.angles import (
    ANGLE_NAMES,
    ANGLE_SPECS,
    VIRTUAL_POINTS,
    AngleSpec,
    angle_between,
    compute_angles,
    direction,
    joint_xy,
    lean,
    time_derivative,
    unwrap_degrees,
)
from sportlens.kinematics.com import SEGMENTS, center_of_mass, segment_parameters
from sportlens.kinematics.metrics import (
    ROM_KEYS,
    lr_pairs,
    peak_velocity,
    range_of_motion,
    summary_metrics,
    symmetry,
    symmetry_index,
)

__all__ = [
    "ANGLE_NAMES", "ANGLE_SPECS", "VIRTUAL_POINTS", "AngleSpec", "angle_between", "compute_angles", "direction",
    "joint_xy", "lean", "time_derivative", "unwrap_degrees",
    "SEGMENTS", "center_of_mass", "segment_parameters",
    "ROM_KEYS", "lr_pairs", "peak_velocity", "range_of_motion", "summary_metrics", "symmetry", "symmetry_index",
]
