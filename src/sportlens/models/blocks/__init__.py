"""Reusable network blocks shared by the video models (no model registrations here)."""
from .attention import (CBAM, CBAM3d, ChannelAttention, SpatialAttention, SpatialAttention3d,
                        TemporalAttention)

__all__ = ["CBAM", "CBAM3d", "ChannelAttention", "SpatialAttention", "SpatialAttention3d",
           "TemporalAttention"]
