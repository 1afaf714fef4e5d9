"""Video I/O: probing, streaming decode with timestamps and rotation, MP4 writing."""
from sportlens.video.reader import Frame, VideoReader, probe, scaled_size
from sportlens.video.writer import VideoWriter

__all__ = ["Frame", "VideoReader", "VideoWriter", "probe", "scaled_size"]
