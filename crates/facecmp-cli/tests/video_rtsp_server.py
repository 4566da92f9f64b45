"""A real RTSP server on loopback for the video tests (GStreamer's
gst-rtsp-server): serves an H.264 MP4 at its own pace, from the start for
every client. Usage: video_rtsp_server.py PORT /PATH CLIP.mp4"""

import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

Gst.init(None)
port, mount, clip = sys.argv[1], sys.argv[2], sys.argv[3]
server = GstRtspServer.RTSPServer()
server.set_address("127.0.0.1")
server.set_service(port)
factory = GstRtspServer.RTSPMediaFactory()
factory.set_launch(f"( filesrc location={clip} ! qtdemux ! rtph264pay name=pay0 pt=96 config-interval=1 )")
server.get_mount_points().add_factory(mount, factory)
server.attach(None)
print("ready", flush=True)
GLib.MainLoop().run()
