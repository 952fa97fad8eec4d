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

import sys
import threading

from gi.repository import Gst  # noqa: E402  (gsttest required the version)

from gsttest import Player, caps, element, emit


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

    lock = threading.Lock()
    frames = []

    def probe(info):
        buf = info.get_buffer()
        ok, mi = buf.map(Gst.MapFlags.READ)
        if not ok:
            return
        nums = frame_numbers(bytes(mi.data))
        buf.unmap(mi)
        with lock:
            for f in nums:
                if not frames or frames[-1] != f:
                    frames.append(f)

    chain = [element("rtph264depay"), caps("video/x-h264,stream-format=byte-stream,alignment=nal")]
    p = Player(url, chain, probe)

    def snapshot():
        with lock:
            return list(frames)

    p.play()
    if not p.pump(20, lambda: len(snapshot()) >= 30):
        p.fail("first frames", frames=snapshot())
    emit(event="flowing", frames=snapshot())

    p.pause()
    if not p.pump(pause_s):
        p.fail("pause", frames=snapshot())
    before = snapshot()
    emit(event="paused", frames=before)

    p.play()
    if not p.pump(20, lambda: len(snapshot()) >= len(before) + 30):
        p.fail("frames after resume", frames=snapshot())
    emit(event="resumed", frames=snapshot()[len(before):])

    p.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
