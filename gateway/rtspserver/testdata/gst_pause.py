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

import sys
import threading
import time

from gsttest import Player, element, emit


def main():
    url = sys.argv[1]
    pause_s = float(sys.argv[2]) if len(sys.argv) > 2 else 2.0
    settle_s = float(sys.argv[3]) if len(sys.argv) > 3 else 0.3

    lock = threading.Lock()
    count = [0]

    def probe(_info):
        with lock:
            count[0] += 1

    p = Player(url, [element("rtph264depay"), element("h264parse")], probe)

    def buffers():
        with lock:
            return count[0]

    p.play()
    if not p.pump(20, lambda: buffers() >= 10):
        p.fail("first buffers", buffers=buffers())
    emit(event="flowing", buffers=buffers())

    ret = p.pause()
    t0 = time.monotonic()
    if not p.pump(settle_s):
        p.fail("settle", buffers=buffers())
    settled = buffers()
    if not p.pump(pause_s - settle_s):
        p.fail("paused window", buffers=buffers())
    end = buffers()
    emit(
        event="paused",
        state_change=ret.value_nick,
        settled=settled,
        end=end,
        during=end - settled,
        window=round(time.monotonic() - t0 - settle_s, 3),
    )

    p.play()
    if not p.pump(20, lambda: buffers() >= end + 10):
        p.fail("buffers after resume", buffers=buffers())
    emit(event="resumed", buffers=buffers())

    p.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
