#!/usr/bin/env bash
# Recreate the face_recognition (dlib) peer environment with the exact versions
# used for the facecmp benchmarks. Prebuilt wheels only for dlib: never builds dlib.
#
#   bash bench/peers/setup.sh                 # -> /opt/peers-venv
#   VENV=/tmp/fr PYTHON=python3.11 bash bench/peers/setup.sh
#   INSTALL_HYPERFINE=1 bash bench/peers/setup.sh   # also apt-get install hyperfine (root)
set -euo pipefail

VENV="${VENV:-/opt/peers-venv}"
PYTHON="${PYTHON:-python3}"

# The pins were recorded on CPython 3.11 (dlib-bin wheel cp311 manylinux_2_28 x86_64;
# setuptools 65.5.0's pkg_resources, which face_recognition_models imports, breaks on 3.12+).
pyver="$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
if [[ "$pyver" != "3.11" && "${ALLOW_OTHER_PYTHON:-0}" != "1" ]]; then
  echo "setup.sh: $PYTHON is Python $pyver; the pins were recorded on 3.11." >&2
  echo "          Set PYTHON=python3.11, or ALLOW_OTHER_PYTHON=1 to try anyway." >&2
  exit 1
fi

"$PYTHON" -m venv --clear "$VENV"
pip=("$VENV/bin/python" -m pip --disable-pip-version-check)

"${pip[@]}" install -q pip==26.3 setuptools==65.5.0
# dlib-bin: prebuilt dlib wheel (Boost licence); --only-binary forbids a source build.
# face_recognition_models is sdist-only (pure data + Python), so it is built locally.
"${pip[@]}" install -q --only-binary=dlib-bin,numpy,pillow \
  dlib-bin==20.0.1.post1 \
  face_recognition_models==0.3.0 \
  numpy==2.4.6 \
  pillow==13.0.0 \
  click==8.5.1
# face_recognition declares a dependency on `dlib` (source build); dlib-bin provides the
# same `dlib` module, so install it without dependencies.
"${pip[@]}" install -q --no-deps face_recognition==1.3.0

"$VENV/bin/python" -c "import face_recognition, dlib; print('face_recognition OK; dlib', dlib.__version__)"
"${pip[@]}" freeze --all

if [[ "${INSTALL_HYPERFINE:-0}" == "1" ]] && ! command -v hyperfine >/dev/null; then
  apt-get update
  apt-get install -y hyperfine
fi
