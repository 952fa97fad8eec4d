#!/usr/bin/python3
"""Play an RTSP URL with GStreamer's rtspsrc over TCP, pause, resume.

Usage: gst_pause.py URL [PAUSE_SECONDS] [SETTLE_SECONDS]

The pipeline is rtspsrc ! rtph264depay ! h264parse ! fakesink, with the
audio stream (if any) sent to its own fakesink. A pad probe on the video
fakesink counts buffers. Steps:

  1. PLAYING until buffers flow;
  2. PAUSED (rtspsrc sends PAUSE): the count is taken once the state change
     completed plus SETTLE seconds (buffers already in flight may still
     land), then again at the end of PAUSE seconds; no buffer may arrive in
     between;
  3. PLAYING again (rtspsrc sends PLAY) until buffers flow again.

Every step prints one JSON line on stdout, for the Go test to parse:
{"event": "flowing"|"paused"|"resumed"|"error", ...}. The exit status is 0
when every step succeeded.
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


def main():
    url = sys.argv[1]
    pause_s = float(sys.argv[2]) if len(sys.argv) > 2 else 2.0
    settle_s = float(sys.argv[3]) if len(sys.argv) > 3 else 0.3
    Gst.init(None)

    pipe = Gst.Pipeline.new("p")
    src = Gst.ElementFactory.make("rtspsrc", "src")
    src.set_property("location", url)
    src.set_property("protocols", "tcp")
    src.set_property("latency", 0)
    depay = Gst.ElementFactory.make("rtph264depay", "depay")
    parse = Gst.ElementFactory.make("h264parse", "parse")
    sink = Gst.ElementFactory.make("fakesink", "sink")
    sink.set_property("sync", False)
    # No preroll: while paused no buffer comes, and an async sink would keep
    # the pipeline from ever completing PAUSED, so the second PLAY would
    # never be sent.
    sink.set_property("async", False)
    for e in (src, depay, parse, sink):
        pipe.add(e)
    depay.link(parse)
    parse.link(sink)

    lock = threading.Lock()
    count = [0]

    def probe(_pad, _info):
        with lock:
            count[0] += 1
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

    def buffers():
        with lock:
            return count[0]

    def pump(seconds, until=None):
        """Serve the bus for up to seconds; return True once until() holds."""
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
        emit(event="error", message="step failed: " + step, buffers=buffers())
        pipe.set_state(Gst.State.NULL)
        sys.exit(1)

    pipe.set_state(Gst.State.PLAYING)
    if not pump(20, lambda: buffers() >= 10):
        fail("first buffers")
    emit(event="flowing", buffers=buffers())

    pipe.set_state(Gst.State.PAUSED)
    ret, _, _ = pipe.get_state(5 * Gst.SECOND)
    t0 = time.monotonic()
    if not pump(settle_s):
        fail("settle")
    settled = buffers()
    if not pump(pause_s - settle_s):
        fail("paused window")
    end = buffers()
    emit(
        event="paused",
        state_change=ret.value_nick,
        settled=settled,
        end=end,
        during=end - settled,
        window=round(time.monotonic() - t0 - settle_s, 3),
    )

    pipe.set_state(Gst.State.PLAYING)
    if not pump(20, lambda: buffers() >= end + 10):
        fail("buffers after resume")
    emit(event="resumed", buffers=buffers())

    pipe.set_state(Gst.State.NULL)
    return 0


if __name__ == "__main__":
    sys.exit(main())
