#!/usr/bin/env bash
# Copies the full LFW (deep-funneled: 13,233 images of 5,749 people) out of a
# git mirror of github.com/braun-steven/dfi-tensorflow, folder
# data/lfw-deepfunneled/, and proves it is complete and unaltered: the image
# and people counts, and every file's sha256 against the list beside this
# script (lfw-deepfunneled.sha256). LFW is never committed here.
#
#   tools/lfw/copy-lfw.sh MIRROR_GIT_DIR OUT_DIR     # OUT_DIR/<Name>/<Name>_NNNN.jpg
#   facecmp eval --lfw-pairs data/lfw/pairs.txt --images OUT_DIR
#
# MIRROR_GIT_DIR is a bare clone or a mirror (a work tree's .git works too).
set -euo pipefail

mirror=${1:?usage: copy-lfw.sh MIRROR_GIT_DIR OUT_DIR}
out=${2:?usage: copy-lfw.sh MIRROR_GIT_DIR OUT_DIR}
list="$(cd "$(dirname "$0")" && pwd)/lfw-deepfunneled.sha256"
expected_images=13233
expected_people=5749

if [[ -e $out && -n "$(ls -A "$out" 2>/dev/null)" ]]; then
  echo "copy-lfw: $out exists and is not empty; give a new folder" >&2
  exit 2
fi
mkdir -p "$out"
# The subtree alone: other large files of that repository may be absent
# from a partial mirror, and are not needed.
git --git-dir="$mirror" archive HEAD:data/lfw-deepfunneled | tar -x -C "$out"

images=$(find "$out" -type f -name '*.jpg' | wc -l)
people=$(find "$out" -mindepth 1 -maxdepth 1 -type d | wc -l)
others=$(find "$out" -type f ! -name '*.jpg' | wc -l)
echo "copied $images images of $people people to $out"
if ((images != expected_images || people != expected_people || others != 0)); then
  echo "copy-lfw: expected $expected_images images of $expected_people people and nothing else;" \
    "found $images images, $people people, $others other files" >&2
  exit 1
fi
(cd "$out" && sha256sum --check --quiet "$list")
echo "all $images files match $list"
