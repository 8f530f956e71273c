"""JPEG as producers write it: one restart marker per MCU row, so workers decode in strips.

The worker splits such a JPEG at its restart markers and decodes the strips on several
cores (engines.jpeg_strips); the markers cost about 0.1 % of the file size.
"""
from typing import Any, List


def rst_interval_for(width: int, mcu_width: int = 16) -> int:
    """Restart interval (in MCUs) of one marker per MCU row: what producers should write
    (cv2.IMWRITE_JPEG_RST_INTERVAL) so workers can decode frames in strips. 16-px MCUs
    are libjpeg's 4:2:0 default."""
    return max(1, (int(width) + mcu_width - 1) // mcu_width)


def encode_params(width: int, quality: int) -> List[int]:
    """cv2.imencode parameters for a frame workers can decode in strips: the quality and
    one restart marker per MCU row (about 0.1 % larger files)."""
    import cv2

    return [int(cv2.IMWRITE_JPEG_QUALITY), int(quality),
            int(cv2.IMWRITE_JPEG_RST_INTERVAL), rst_interval_for(width)]


def encode_jpeg(image_bgr: Any, quality: int) -> bytes:
    """A BGR picture as the JPEG bytes producers send (ValueError if OpenCV cannot encode it)."""
    import cv2

    ok, buf = cv2.imencode(".jpg", image_bgr, encode_params(image_bgr.shape[1], quality))
    if not ok:
        raise ValueError("JPEG encoding failed")
    return buf.tobytes()
