"""Serve H.264 MP4 files over RTSP with gst-rtsp-server, without re-encoding.

Run by the system interpreter (``/usr/bin/python3``, which has ``gi``; the
project's virtual environment does not)::

    /usr/bin/python3 gst_rtsp_serve.py --port 8554 --mount cam1=/path/a.mp4 --mount cam2=/path/b.mp4

Each file is served at ``rtsp://127.0.0.1:<port>/<mount>`` from a shared
media factory (all clients of a mount see the same real-time paced stream).
The stream ends with the file (a flushing seek back to the start made RTP
timestamps jump backwards, which clients handle badly): serve a clip long
enough for the test (``tests/support/media.py`` makes long clips cheaply by
repeating a short one without re-encoding).
Prints ``READY <port>`` on stdout once the server is attached.
"""

from __future__ import annotations

import argparse
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

LAUNCH = (
    "( filesrc location={path} ! qtdemux ! h264parse "
    "! rtph264pay name=pay0 pt=96 config-interval=1 )"
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--mount", action="append", required=True, help="NAME=PATH")
    args = parser.parse_args()

    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    server.set_backlog(128)
    mounts = server.get_mount_points()
    for spec in args.mount:
        name, _, path = spec.partition("=")
        factory = GstRtspServer.RTSPMediaFactory()
        factory.set_launch(LAUNCH.format(path=path))
        factory.set_shared(True)
        mounts.add_factory(f"/{name}", factory)
    if server.attach(None) == 0:
        print(f"FAILED to bind port {args.port}", flush=True)
        return 1
    print(f"READY {args.port}", flush=True)
    GLib.MainLoop().run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
