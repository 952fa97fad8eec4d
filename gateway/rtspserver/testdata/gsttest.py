"""What the GStreamer test scripts share: a pipeline of rtspsrc over TCP
into a video chain ending in a fakesink with a buffer probe, other streams
to their own fakesinks, and a bus pump. Imported by gst_pause.py and
gst_vcr.py (Python puts the script's folder on the import path)."""

import json
import sys
import time

import gi

gi.require_version("Gst", "1.0")
from gi.repository import Gst  # noqa: E402

Gst.init(None)


def emit(**kw):
    """Print one JSON line for the Go test to parse."""
    print(json.dumps(kw), flush=True)


class Player:
    """rtspsrc (TCP, no jitter buffer latency) ! chain... ! fakesink.

    chain lists the elements between rtspsrc's video pad and the sink;
    probe(info) is called for every buffer reaching the sink."""

    def __init__(self, url, chain, probe):
        self.pipe = Gst.Pipeline.new("p")
        src = Gst.ElementFactory.make("rtspsrc", "src")
        src.set_property("location", url)
        src.set_property("protocols", "tcp")
        src.set_property("latency", 0)
        sink = Gst.ElementFactory.make("fakesink", "sink")
        sink.set_property("sync", False)
        # No preroll: while paused no buffer comes, and an async sink would
        # keep the pipeline from ever completing PAUSED, so the second PLAY
        # would never be sent.
        sink.set_property("async", False)
        elems = [src] + chain + [sink]
        for e in elems:
            self.pipe.add(e)
        for a, b in zip(elems[1:], elems[2:]):
            a.link(b)
        first = elems[1]

        def on_probe(_pad, info):
            probe(info)
            return Gst.PadProbeReturn.OK

        sink.get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, on_probe)

        def on_pad(_src, pad):
            caps = pad.get_current_caps() or pad.query_caps(None)
            media = caps.get_structure(0).get_string("media")
            if media == "video" and not first.get_static_pad("sink").is_linked():
                pad.link(first.get_static_pad("sink"))
                return
            other = Gst.ElementFactory.make("fakesink", None)
            other.set_property("sync", False)
            other.set_property("async", False)
            self.pipe.add(other)
            other.sync_state_with_parent()
            pad.link(other.get_static_pad("sink"))

        src.connect("pad-added", on_pad)
        self.bus = self.pipe.get_bus()

    def play(self):
        self.pipe.set_state(Gst.State.PLAYING)

    def pause(self):
        """PAUSED (rtspsrc sends PAUSE); returns the state change result."""
        self.pipe.set_state(Gst.State.PAUSED)
        ret, _, _ = self.pipe.get_state(5 * Gst.SECOND)
        return ret

    def pump(self, seconds, until=None):
        """Serve the bus for up to seconds; return True once until() holds
        (or at the end, when there is no until), False on an error."""
        deadline = time.monotonic() + seconds
        while True:
            if until is not None and until():
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return until is None
            msg = self.bus.timed_pop_filtered(
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

    def fail(self, step, **kw):
        emit(event="error", message="step failed: " + step, **kw)
        self.stop()
        sys.exit(1)

    def stop(self):
        self.pipe.set_state(Gst.State.NULL)


def element(factory, **props):
    e = Gst.ElementFactory.make(factory, None)
    for k, v in props.items():
        e.set_property(k.replace("_", "-"), v)
    return e


def caps(text):
    return element("capsfilter", caps=Gst.Caps.from_string(text))
