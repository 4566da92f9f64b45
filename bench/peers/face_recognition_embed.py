#!/usr/bin/env python3
"""Peer for `facecmp embed`: encode every face in each photo with face_recognition (dlib).

Usage: face_recognition_embed.py PATH...   (each PATH an image, or a folder of images)

Default model, as face_recognition.face_encodings(image) uses it: HOG detector
upsampled once, 5-point landmarks ("small"), ResNet 128-d encoder, num_jitters=1.
Every face of every image is encoded (compare with `facecmp embed --all-faces`).

Prints, on stdout:
  images=N faces=F
  load_s=...    (load_image_file, all images)
  encode_s=...  faces_per_s=...   (face_encodings calls only: detect + landmarks + encode)
  loop_s=...    faces_per_s=...   (the whole per-image loop: load + encode)
  whole_s=...   faces_per_s=...   (script start to end, incl. `import face_recognition`,
                                   which loads all dlib models; excludes interpreter start-up)
Exit status: 0 if every image loaded, 2 if any image failed to load.
"""
import time

T_START = time.perf_counter()

import os
import sys

import face_recognition

EXTS = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"}


def collect(paths):
    files = []
    for p in paths:
        if os.path.isdir(p):
            for name in sorted(os.listdir(p)):
                full = os.path.join(p, name)
                if os.path.isfile(full) and os.path.splitext(name)[1].lower() in EXTS:
                    files.append(full)
        else:
            files.append(p)
    return files


def rate(faces, seconds):
    return faces / seconds if seconds > 0 else float("inf")


def main(argv):
    if len(argv) < 2:
        print("usage: face_recognition_embed.py PATH...", file=sys.stderr)
        return 2
    files = collect(argv[1:])
    failed = 0
    faces = 0
    load_s = 0.0
    encode_s = 0.0
    t_loop = time.perf_counter()
    for path in files:
        t0 = time.perf_counter()
        try:
            image = face_recognition.load_image_file(path)
        except Exception as e:
            print(f"face_recognition_embed: {path}: cannot load image: {e}", file=sys.stderr)
            failed += 1
            continue
        t1 = time.perf_counter()
        encodings = face_recognition.face_encodings(image)
        t2 = time.perf_counter()
        load_s += t1 - t0
        encode_s += t2 - t1
        faces += len(encodings)
    loop_s = time.perf_counter() - t_loop
    whole_s = time.perf_counter() - T_START
    print(f"images={len(files) - failed} faces={faces}")
    print(f"load_s={load_s:.4f}")
    print(f"encode_s={encode_s:.4f} faces_per_s={rate(faces, encode_s):.2f}")
    print(f"loop_s={loop_s:.4f} faces_per_s={rate(faces, loop_s):.2f}")
    print(f"whole_s={whole_s:.4f} faces_per_s={rate(faces, whole_s):.2f}")
    return 2 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
