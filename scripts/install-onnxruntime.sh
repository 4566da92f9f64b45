#!/usr/bin/env bash
# Installs ONNX Runtime's shared library where facecmp looks for it, turning on
# the fast inference path (`facecmp doctor` shows which engine is in use).
#
# The library ships inside the PyPI wheel onnxruntime==1.32.0; this fetches
# that wheel with pip, checks its sha256, and copies out
# onnxruntime/capi/libonnxruntime.so.1.32.0. Needs python3 with pip.
#
#   scripts/install-onnxruntime.sh            # to $XDG_DATA_HOME/facecmp/onnxruntime/
#                                            # (default ~/.local/share/facecmp/onnxruntime/)
#   scripts/install-onnxruntime.sh DIR        # to DIR; then export FACECMP_ORT_LIB=DIR/libonnxruntime.so.1.32.0
set -euo pipefail

VERSION=1.32.0
LIBRARY="libonnxruntime.so.$VERSION"
# The manylinux x86_64 wheel for CPython 3.11 (the python on facecmp's build machines).
WHEEL="onnxruntime-$VERSION-cp311-cp311-manylinux_2_28_x86_64.whl"
WHEEL_SHA256=5a34fc4dfeb5a7b4a74c95dcba1e773d722abda720b474edf1b0c419dc6d163d

dest="${1:-${XDG_DATA_HOME:-$HOME/.local/share}/facecmp/onnxruntime}"
if [[ -f "$dest/$LIBRARY" ]]; then
  echo "ONNX Runtime $VERSION is already installed: $dest/$LIBRARY"
  exit 0
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
python3 -m pip download --quiet --no-deps --only-binary=:all: \
  --python-version 3.11 --platform manylinux_2_28_x86_64 \
  "onnxruntime==$VERSION" -d "$work"
wheel="$work/$WHEEL"
[[ -f "$wheel" ]] || { echo "expected $WHEEL from pip, got: $(ls "$work")" >&2; exit 1; }
echo "$WHEEL_SHA256  $wheel" | sha256sum --check --quiet \
  || { echo "sha256 mismatch for $WHEEL" >&2; exit 1; }

mkdir -p "$dest"
python3 - "$wheel" "onnxruntime/capi/$LIBRARY" "$dest/$LIBRARY" <<'PY'
import shutil, sys, zipfile
wheel, inner, target = sys.argv[1:]
with zipfile.ZipFile(wheel) as archive, archive.open(inner) as src, open(target + ".part", "wb") as dst:
    shutil.copyfileobj(src, dst)
PY
mv "$dest/$LIBRARY.part" "$dest/$LIBRARY"
echo "installed $dest/$LIBRARY"
