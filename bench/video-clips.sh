#!/usr/bin/env bash
# Builds the 60 s benchmark clips of BENCHMARKS.md ("Video") from the test
# fixtures: a noisy background (so the encoder and decoder have real work)
# with faces moving across it in a 20 s cycle, three times:
#   Obama (obama2.jpg) 0–5 s, nobody, Biden 7–12 s, nobody, Obama (obama3.jpg) 14–19 s, nobody.
# Obama therefore first appears at 0, 14, 20, 34, 40 and 54 s.
#
#   bench/video-clips.sh OUTDIR        # OUTDIR/lift720p25.mp4, OUTDIR/lift1080p30.mp4
set -euo pipefail
out="${1:?usage: bench/video-clips.sh OUTDIR}"
data="$(cd "$(dirname "$0")/../tests/data" && pwd)"
mkdir -p "$out"

clip() { # NAME WIDTH HEIGHT FPS
  local name=$1 w=$2 h=$3 fps=$4 face=$(( $3 * 55 / 100 ))
  local graph="[1]crop=iw*0.8:ih*0.6:0:0,scale=-2:$face,loop=loop=-1:size=1[a];"
  graph+="[2]crop=iw:ih*0.4:0:0,scale=-2:$face,loop=loop=-1:size=1[b];"
  graph+="[3]crop=iw*0.6:ih*0.4:iw*0.2:0,scale=-2:$face,loop=loop=-1:size=1[c];"
  graph+="[0][a]overlay=x='(W-w)*mod(t,20)/5':y=H/8:enable='between(mod(t,20),0,5)'[v1];"
  graph+="[v1][b]overlay=x='(W-w)*(1-(mod(t,20)-7)/5)':y=H/6:enable='between(mod(t,20),7,12)'[v2];"
  graph+="[v2][c]overlay=x='(W-w)*(mod(t,20)-14)/5':y=H/8:enable='between(mod(t,20),14,19)'[v]"
  ffmpeg -hide_banner -loglevel error -y \
    -f lavfi -i "color=c=0x5a6470:s=${w}x${h}:r=$fps:d=60,noise=alls=8:allf=t" \
    -i "$data/obama2.jpg" -i "$data/biden.jpg" -i "$data/obama3.jpg" \
    -filter_complex "$graph" -map '[v]' -t 60 -c:v libx264 -preset veryfast -pix_fmt yuv420p \
    "$out/$name.mp4"
}

clip lift720p25 1280 720 25
clip lift1080p30 1920 1080 30
