#!/usr/bin/env bash
# Whole-process comparison of facecmp (both engines) with face_recognition
# (dlib) on the same photos and the same machine: wall time with hyperfine,
# peak memory with /usr/bin/time, and embedding throughput over a folder.
# Prerequisites: cargo build --release; scripts/install-onnxruntime.sh;
# bench/peers/setup.sh; apt-get install hyperfine time.
set -euo pipefail
cd "$(dirname "$0")/.."

FACECMP=target/release/facecmp
PEER=${PEER_PYTHON:-/opt/peers-venv/bin/python}
A=tests/data/obama.jpg
B=tests/data/obama2.jpg
OUT=${OUT:-target/side-by-side}
mkdir -p "$OUT"

echo "== machine"
lscpu | grep -E 'Model name|^CPU\(s\)|Flags' | sed 's/Flags:.*\(avx512f\).*/Flags: ... avx512f .../' | cut -c1-120
"$FACECMP" doctor | sed -n '1,3p'

echo "== compare $A $B: wall time"
hyperfine --warmup 2 --runs "${RUNS:-15}" --export-markdown "$OUT/compare.md" \
  -n "facecmp (onnxruntime)" "$FACECMP --runtime ort compare $A $B" \
  -n "facecmp (tract)" "$FACECMP --runtime tract compare $A $B" \
  -n "face_recognition" "$PEER bench/peers/face_recognition_compare.py $A $B"

echo "== compare: peak memory (max resident set, KiB; median of 5)"
peak() {
  for _ in 1 2 3 4 5; do
    /usr/bin/time -f '%M' "$@" 2>&1 >/dev/null | tail -1
  done | sort -n | sed -n 3p
}
echo "facecmp (onnxruntime): $(peak "$FACECMP" --runtime ort compare $A $B)"
echo "facecmp (tract):       $(peak "$FACECMP" --runtime tract compare $A $B)"
echo "face_recognition:      $(peak "$PEER" bench/peers/face_recognition_compare.py $A $B)"

echo "== throughput: every face of every test photo"
photos=(tests/data/obama.jpg tests/data/obama2.jpg tests/data/obama3.jpg tests/data/biden.jpg
        tests/data/32bit.png tests/data/bald_guys.jpg tests/data/obama_partial_face.jpg
        tests/data/obama_partial_face2.jpg)
faces=$("$FACECMP" embed --all-faces --min-face-size 0 "${photos[@]}" | wc -l)
echo "faces embedded by facecmp: $faces"
hyperfine --warmup 1 --runs "${THROUGHPUT_RUNS:-5}" --export-markdown "$OUT/throughput.md" \
  -n "facecmp embed (onnxruntime)" "$FACECMP --runtime ort embed --all-faces --min-face-size 0 ${photos[*]}" \
  -n "facecmp embed (tract)" "$FACECMP --runtime tract embed --all-faces --min-face-size 0 ${photos[*]}" \
  -n "face_recognition" "$PEER bench/peers/face_recognition_embed.py ${photos[*]}"
"$PEER" bench/peers/face_recognition_embed.py "${photos[@]}"
