"""A GStreamer RTSP camera serving frames that encode their index (run with the system python3).

    /usr/bin/python3 rtsp_camera.py PORT FPS   -> prints "READY <t0>" once it serves rtsp://127.0.0.1:PORT/cam

Frame i is pushed at t0 + i / FPS (appsrc, live, timestamped on push) as a 16-bit barcode of
vertical stripes (live_cameras.barcode's layout), JPEG over RTP (rtpjpegpay). Needs Debian's
gir1.2-gst-rtsp-server-1.0, gstreamer1.0-rtsp, gstreamer1.0-plugins-good and python3-gi.
"""
import sys
import time

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

WIDTH, HEIGHT, BITS = 320, 240, 16
STRIPE = WIDTH // BITS


def barcode(index):
    row = bytearray(WIDTH)
    for bit in range(BITS):
        if (index >> bit) & 1:
            row[bit * STRIPE:(bit + 1) * STRIPE] = b"\xff" * STRIPE
    return bytes(row) * HEIGHT


def main():
    port, fps = int(sys.argv[1]), float(sys.argv[2])
    Gst.init(None)
    t0 = time.time()
    sources = []

    def push():
        index = int((time.time() - t0) * fps)
        for src in sources:
            if src.get("last") != index:
                src["last"] = index
                src["appsrc"].emit("push-buffer", Gst.Buffer.new_wrapped(barcode(index)))
        return True

    def configure(_factory, media):
        appsrc = media.get_element().get_child_by_name("src")
        sources.append({"appsrc": appsrc, "last": None})

    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(
        "( appsrc name=src is-live=true do-timestamp=true format=time "
        "caps=video/x-raw,format=GRAY8,width=%d,height=%d,framerate=%d/1 ! videoconvert ! "
        "video/x-raw,format=I420 ! jpegenc quality=90 ! rtpjpegpay name=pay0 pt=96 )"
        % (WIDTH, HEIGHT, int(fps)))
    factory.set_shared(True)
    factory.connect("media-configure", configure)
    server = GstRtspServer.RTSPServer()
    server.set_service(str(port))
    server.get_mount_points().add_factory("/cam", factory)
    server.attach(None)
    GLib.timeout_add(max(1, int(500 / fps)), push)  # twice per frame period
    sys.stdout.write("READY %.6f\n" % t0)
    sys.stdout.flush()
    GLib.MainLoop().run()


if __name__ == "__main__":
    main()
