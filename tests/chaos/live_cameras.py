"""Live test cameras that encode each frame's index: an HTTP MJPEG server (in-process) and a
GStreamer RTSP server (deploy-side system python3 with gi; see rtsp_camera.py).

A camera's index is its own clock: frame i is the picture of time t0 + i / fps, whether or
not anyone reads it (a sensor does not wait for a slow reader). The index is drawn as a
16-bit barcode of vertical stripes, robust to JPEG; `decode_index` reads it back.
"""
import socketserver
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

WIDTH, HEIGHT, BITS = 320, 240, 16
STRIPE = WIDTH // BITS


def barcode(index):
    """A HEIGHT x WIDTH grey picture whose stripes spell ``index`` in binary (bit 0 left)."""
    import numpy as np

    image = np.zeros((HEIGHT, WIDTH), np.uint8)
    for bit in range(BITS):
        if (index >> bit) & 1:
            image[:, bit * STRIPE:(bit + 1) * STRIPE] = 255
    return image


def decode_index(image):
    """The index a barcode picture (grey or BGR, through JPEG) spells."""
    import numpy as np

    grey = image if image.ndim == 2 else image.mean(axis=2)
    value = 0
    for bit in range(BITS):
        centre = grey[HEIGHT // 4:3 * HEIGHT // 4, bit * STRIPE + 4:(bit + 1) * STRIPE - 4]
        if float(np.mean(centre)) > 127:
            value |= 1 << bit
    return value


class MjpegCamera(object):
    """multipart/x-mixed-replace JPEG stream at ``fps``, like an IP camera's /video.mjpg."""

    def __init__(self, fps=25.0):
        import cv2

        self.fps = float(fps)
        self.t0 = time.time()
        self.cv2 = cv2
        camera = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.end_headers()
                last = -1
                try:
                    while not camera.stopped.is_set():
                        index = camera.index_at(time.time())
                        if index == last:
                            time.sleep(0.002)
                            continue
                        last = index
                        ok, jpeg = cv2.imencode(".jpg", barcode(index))
                        data = jpeg.tobytes()
                        self.wfile.write(b"--frame\r\nContent-Type: image/jpeg\r\n"
                                         b"Content-Length: %d\r\n\r\n" % len(data) + data + b"\r\n")
                        camera.written.append((time.time(), index))
                        while camera.paused.is_set() and not camera.stopped.is_set():
                            time.sleep(0.01)  # a stalled camera: the socket stays open, silent
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, *args):
                pass

        class Server(socketserver.ThreadingMixIn, HTTPServer):
            daemon_threads = True

        self.written = []  # (wall time, index) of every frame written, in order
        self.stopped = threading.Event()
        self.paused = threading.Event()
        self.server = Server(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self):
        return "http://127.0.0.1:%d/video.mjpg" % self.server.server_address[1]

    def index_at(self, t):
        """The camera clock's frame at wall time t."""
        return int((t - self.t0) * self.fps)

    def newest_at(self, t):
        """The newest frame the camera had written by wall time t (-1 before any)."""
        import bisect

        i = bisect.bisect_right(self.written, (t, float("inf")))
        return self.written[i - 1][1] if i else -1

    def close(self):
        self.stopped.set()
        self.server.shutdown()
        self.server.server_close()
