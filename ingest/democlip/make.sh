#!/bin/sh
# Regenerates the embedded demo clip (see README.md). Run from this folder.
set -eu
cd "$(dirname "$0")"

# 8 s of video: 200 frames at 25 fps, H.264 main profile without B-frames,
# one IDR per second, SPS/PPS before every IDR, an AUD before every access unit,
# x264's SEI removed. testsrc draws a running timestamp without needing a font.
ffmpeg -hide_banner -loglevel error -y \
	-f lavfi -i "testsrc=size=640x360:rate=25:duration=8" \
	-frames:v 200 -an \
	-c:v libx264 -profile:v main -preset veryfast -tune zerolatency -crf 23 -pix_fmt yuv420p \
	-bf 0 -g 25 -keyint_min 25 -sc_threshold 0 -x264-params repeat-headers=1 \
	-bsf:v "filter_units=remove_types=6,h264_metadata=aud=insert" \
	-f h264 clip.h264

# 8 s of audio: a 440 Hz sine (a whole number of cycles in 8 s), AAC-LC,
# 48 kHz mono, exactly 375 ADTS frames of 1024 samples.
ffmpeg -hide_banner -loglevel error -y \
	-f lavfi -i "sine=frequency=440:sample_rate=48000:duration=9" \
	-frames:a 375 -ac 1 \
	-c:a aac -profile:a aac_low -b:a 64k \
	-f adts clip.aac
