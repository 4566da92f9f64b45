#!/usr/bin/env bash
# Re-fetch the test photos in this folder from their public packages, verify
# their SHA-256 and copy them next to this script; regenerate the synthetic
# fixtures (not_an_image.txt, empty.jpg, truncated.jpg).  See SOURCES.md.
# Needs: python3 with pip (PyPI access) and curl (deb.debian.org access).
set -euo pipefail

DEST="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PY="${PYTHON:-python3}"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
status=0

verify_copy() { # file name want-sha
  local got
  got="$(sha256sum "$1" | cut -d' ' -f1)"
  if [[ "$got" != "$3" ]]; then
    echo "!! sha256 mismatch for $2: got $got, want $3" >&2
    status=1
    return 0
  fi
  cp "$1" "$DEST/$2"
  echo "ok $2"
}

# 1. face_recognition 1.3.0 sdist (PyPI), tests/test_images/
echo ">> face_recognition==1.3.0 (sdist)"
"$PY" -m pip download --quiet --no-deps --no-binary :all: face_recognition==1.3.0 -d "$TMP/fr"
tar -xzf "$TMP"/fr/face_recognition-1.3.0.tar.gz -C "$TMP/fr" face_recognition-1.3.0/tests/test_images
FR="$TMP/fr/face_recognition-1.3.0/tests/test_images"
while read -r name want; do
  verify_copy "$FR/$name" "$name" "$want"
done <<'LIST'
obama.jpg 0930e3aa8cae5920329c0c8cbc6a2ab70f47b0e67b432875beaa95cbf7e741f6
obama2.jpg a7efcc907375274796f39646510704aa86672d59f6d5469d69af3c85590976a6
obama3.jpg 76ac6bf97c36dc2da0ad16a537d6a5ac1b10f48d49aac29a0cca9a17cdbc3ca3
biden.jpg 3c17508bb91554c637a2eabddfae790e5bb1caba93130814fc2ac50be9760c4c
32bit.png 44dca895a7d635a4aedddd91a4f37af9a8a5b44e66154282a24645a757b5f627
obama_partial_face.jpg c2d1f09e7ef3042352b41e41286e6eb0522f64f88308be13886991b95db52117
obama_partial_face2.jpg 9a812347f97633542b8cd9992de22def11b74f79d82056bc3ee830f13878e028
LIST

# 2. dlib 19.24+dfsg-1 Debian source package, .orig tarball only
#    (equivalent to `apt-get source --download-only dlib` with deb-src enabled,
#    minus the 200 MB dlib-models component tarball)
echo ">> dlib_19.24+dfsg.orig.tar.bz2 (Debian source)"
ORIG_URL="${DLIB_ORIG_URL:-http://deb.debian.org/debian/pool/main/d/dlib/dlib_19.24%2bdfsg.orig.tar.bz2}"
ORIG_SHA=66b4263822a2ff91a3e769e501c7d7927a13089e178c1427ec19cb0475823cf6
curl -fsSL -o "$TMP/dlib.orig.tar.bz2" "$ORIG_URL"
if [[ "$(sha256sum "$TMP/dlib.orig.tar.bz2" | cut -d' ' -f1)" != "$ORIG_SHA" ]]; then
  echo "!! sha256 mismatch for dlib orig tarball" >&2
  status=1
else
  tar -xjf "$TMP/dlib.orig.tar.bz2" -C "$TMP" dlib-19.24+dfsg/examples/faces/bald_guys.jpg
  verify_copy "$TMP/dlib-19.24+dfsg/examples/faces/bald_guys.jpg" bald_guys.jpg \
    e0c40697dbd9a07684274f71760bc5161468e926ba75ff90d48b168019402e8b
fi

# 3. scikit-image 0.26.0 wheel (PyPI): skimage/data/chelsea.png -> no_face.png
echo ">> scikit-image==0.26.0 (wheel)"
"$PY" -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.11 \
  --platform manylinux_2_28_x86_64 scikit-image==0.26.0 -d "$TMP/ski"
"$PY" - "$(ls "$TMP"/ski/*.whl)" "$TMP/chelsea.png" <<'PYEOF'
import sys, zipfile, shutil
with zipfile.ZipFile(sys.argv[1]) as z, z.open("skimage/data/chelsea.png") as s, open(sys.argv[2], "wb") as d:
    shutil.copyfileobj(s, d)
PYEOF
verify_copy "$TMP/chelsea.png" no_face.png 596aa1e7cb875eb79f437e310381d26b338a81c2da23439704a73c4651e8c4bb

# 4. synthetic fixtures
echo ">> synthetic fixtures"
echo "This is a plain text file, not an image." > "$TMP/not_an_image.txt"
: > "$TMP/empty.jpg"
"$PY" -c "import sys; d=open(sys.argv[1],'rb').read(); open(sys.argv[2],'wb').write(d[:int(len(d)*0.4)])" \
  "$DEST/obama.jpg" "$TMP/truncated.jpg"
verify_copy "$TMP/not_an_image.txt" not_an_image.txt 30f5b0c110d79be3a2e3ca5fd2227db2ef403895ab8e4756b7e962b435c10458
verify_copy "$TMP/empty.jpg" empty.jpg e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
verify_copy "$TMP/truncated.jpg" truncated.jpg c52e2949971f79fa8a7e54504bcccf062c5517d83eaf58a5c08d32baea17f28d

exit "$status"
