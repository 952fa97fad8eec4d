#!/usr/bin/python3
"""Play an RTSP URL with GStreamer's rtspsrc over TCP, pause, resume, and
report which frames arrived.

Usage: gst_vcr.py URL PAUSE_SECONDS

The stream is the test suite's synthetic H.264, whose slices carry their
frame number in the four bytes after the NAL header. The pipeline is
rtspsrc ! rtph264depay ! byte-stream caps ! fakesink; a pad probe reads the frame numbers of
the buffers. Steps: PLAYING until 30 frames arrived; PAUSED for
PAUSE_SECONDS (rtspsrc sends PAUSE); PLAYING again (rtspsrc sends PLAY)
until 30 more frames arrived. One JSON line per step on stdout:
{"event": "flowing"|"paused"|"resumed"|"error", "frames": [...]}.
"""

import json
import sys
import threading
import time

import gi

gi.require_version("Gst", "1.0")
from gi.repository import Gst  # noqa: E402


def emit(**kw):
    print(json.dumps(kw), flush=True)


def frame_numbers(data):
    """Frame numbers of the slice NAL units in an Annex-B buffer."""
    out = []
    i = 0
    n = len(data)
    while True:
        j = data.find(b"\x00\x00\x01", i)
        if j < 0 or j + 8 > n:
            return out
        hdr = data[j + 3]
        if hdr & 0x1F in (1, 5):
            out.append(int.from_bytes(data[j + 4:j + 8], "big"))
        i = j + 3


def main():
    url = sys.argv[1]
    pause_s = float(sys.argv[2])
    Gst.init(None)

    pipe = Gst.Pipeline.new("p")
    src = Gst.ElementFactory.make("rtspsrc", "src")
    src.set_property("location", url)
    src.set_property("protocols", "tcp")
    src.set_property("latency", 0)
    depay = Gst.ElementFactory.make("rtph264depay", "depay")
    caps = Gst.ElementFactory.make("capsfilter", "caps")
    caps.set_property(
        "caps",
        Gst.Caps.from_string("video/x-h264,stream-format=byte-stream,alignment=nal"),
    )
    sink = Gst.ElementFactory.make("fakesink", "sink")
    sink.set_property("sync", False)
    sink.set_property("async", False)
    for e in (src, depay, caps, sink):
        pipe.add(e)
    depay.link(caps)
    caps.link(sink)

    lock = threading.Lock()
    frames = []

    def probe(_pad, info):
        buf = info.get_buffer()
        ok, mi = buf.map(Gst.MapFlags.READ)
        if ok:
            nums = frame_numbers(bytes(mi.data))
            buf.unmap(mi)
            with lock:
                for f in nums:
                    if not frames or frames[-1] != f:
                        frames.append(f)
        return Gst.PadProbeReturn.OK

    sink.get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, probe)

    def on_pad(_src, pad):
        caps = pad.get_current_caps() or pad.query_caps(None)
        media = caps.get_structure(0).get_string("media")
        if media == "video" and not depay.get_static_pad("sink").is_linked():
            pad.link(depay.get_static_pad("sink"))
            return
        other = Gst.ElementFactory.make("fakesink", None)
        other.set_property("sync", False)
        other.set_property("async", False)
        pipe.add(other)
        other.sync_state_with_parent()
        pad.link(other.get_static_pad("sink"))

    src.connect("pad-added", on_pad)
    bus = pipe.get_bus()

    def count():
        with lock:
            return len(frames)

    def snapshot():
        with lock:
            return list(frames)

    def pump(seconds, until=None):
        deadline = time.monotonic() + seconds
        while True:
            if until is not None and until():
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return until is None
            msg = bus.timed_pop_filtered(
                int(min(left, 0.02) * Gst.SECOND),
                Gst.MessageType.ERROR | Gst.MessageType.EOS,
            )
            if msg is not None:
                if msg.type == Gst.MessageType.ERROR:
                    err, dbg = msg.parse_error()
                    emit(event="error", message=str(err), debug=str(dbg))
                else:
                    emit(event="error", message="unexpected EOS")
                return False

    def fail(step):
        emit(event="error", message="step failed: " + step, frames=snapshot())
        pipe.set_state(Gst.State.NULL)
        sys.exit(1)

    pipe.set_state(Gst.State.PLAYING)
    if not pump(20, lambda: count() >= 30):
        fail("first frames")
    emit(event="flowing", frames=snapshot())

    pipe.set_state(Gst.State.PAUSED)
    pipe.get_state(5 * Gst.SECOND)
    if not pump(pause_s):
        fail("pause")
    before = snapshot()
    emit(event="paused", frames=before)

    pipe.set_state(Gst.State.PLAYING)
    if not pump(20, lambda: count() >= len(before) + 30):
        fail("frames after resume")
    emit(event="resumed", frames=snapshot()[len(before):])

    pipe.set_state(Gst.State.NULL)
    return 0


if __name__ == "__main__":
    sys.exit(main())
