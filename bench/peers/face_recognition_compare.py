#!/usr/bin/env python3
"""Peer for `facecmp compare`: face_recognition (dlib) verdict on two photos.

Follows face_recognition's README `compare_faces` example: load both images,
take the first encoding of each (default model: HOG detector upsampled once,
5-point landmarks "small", ResNet 128-d encoder, num_jitters=1), and compare
with the default tolerance 0.6 (same person when distance <= 0.6).

Usage: face_recognition_compare.py A B
Prints `distance=D same=True|False`.
Exit status: 0 same person, 1 different people, 2 no face found (or unreadable image).
"""
import sys

import face_recognition

TOLERANCE = 0.6  # face_recognition.compare_faces default


def encode_first(path):
    try:
        image = face_recognition.load_image_file(path)
    except Exception as e:  # unreadable / not an image
        print(f"face_recognition_compare: {path}: cannot load image: {e}", file=sys.stderr)
        sys.exit(2)
    encodings = face_recognition.face_encodings(image)
    if not encodings:
        print(f"face_recognition_compare: {path}: no face found", file=sys.stderr)
        sys.exit(2)
    return encodings[0]


def main(argv):
    if len(argv) != 3:
        print("usage: face_recognition_compare.py A B", file=sys.stderr)
        return 2
    known = encode_first(argv[1])
    unknown = encode_first(argv[2])
    distance = float(face_recognition.face_distance([known], unknown)[0])
    same = bool(face_recognition.compare_faces([known], unknown, tolerance=TOLERANCE)[0])
    print(f"distance={distance:.6f} same={same}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
