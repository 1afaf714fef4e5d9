"""Video I/O: probing, streaming decode with timestamps and rotation, MP4 writing."""
from sportlens.video.reader import Frame, VideoReader, probe, scaled_size
from sportlens.video.writer import VideoWriter, concat_mp4

__all__ = ["Frame", "VideoReader", "VideoWriter", "concat_mp4", "probe", "scaled_size"]
