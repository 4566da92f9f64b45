#!/usr/bin/env python3
"""dlib's own face boxes and 5-point landmarks for every photo of a folder tree, as dlib's
pipeline (face_recognition's) finds them: the HOG frontal face detector, upsampled once, and
shape_predictor_5_face_landmarks in each box.

    python3 tools/dlib/dlib_boxes.py LFW_DIR boxes.json

Needs dlib (tools/reference/requirements-dlib.txt) and the .dat from models/fetch-dlib.sh.
Writes {"Person/Person_0001.jpg": [{"rect": [left, top, right, bottom], "parts": [[x, y] x5]}]}.
`fit_face_box.py` fits facecmp's FaceBox to these boxes. About 30 min for LFW on one core.
"""

import json
import os
import sys
from pathlib import Path

import dlib
import numpy as np
from PIL import Image

DAT = Path(os.environ.get("FACECMP_DLIB_DAT_DIR", Path.home() / ".cache/facecmp/dlib"))


def main(root: str, out: str) -> int:
    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(str(DAT / "shape_predictor_5_face_landmarks.dat"))
    found = {}
    for path in sorted(Path(root).rglob("*.jpg")):
        image = np.asarray(Image.open(path).convert("RGB"))
        found[str(path.relative_to(root))] = [
            {
                "rect": [r.left(), r.top(), r.right(), r.bottom()],
                "parts": [[p.x, p.y] for p in predictor(image, r).parts()],
            }
            for r in detector(image, 1)
        ]
    Path(out).write_text(json.dumps(found))
    print(f"{len(found)} photos, {sum(map(len, found.values()))} faces -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
