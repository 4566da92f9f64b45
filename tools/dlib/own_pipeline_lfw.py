#!/usr/bin/env python3
"""LFW View 2 through dlib's own pipeline, measured as `facecmp eval --lfw-pairs` measures.

dlib's HOG detector and 5-point landmarks (boxes.json from `dlib_boxes.py`), dlib's face chip
(`get_face_chip`, 150 px, 0.25 padding) and dlib's own ResNet (`face_recognition_model_v1`, the
.dat, not facecmp's conversion of it). In each photo the face nearest the centre counts; a pair
with a photo where dlib finds no face is an error, as in facecmp's report. Each fold's threshold
is chosen on the other nine. The score is dlib's Euclidean distance (same person below it).

    python3 tools/dlib/dlib_boxes.py LFW_DIR boxes.json
    python3 tools/dlib/own_pipeline_lfw.py LFW_DIR boxes.json data/lfw/pairs.txt

Needs dlib (tools/reference/requirements-dlib.txt) and the .dat files from models/fetch-dlib.sh.
About 10 min on one core for the 7,701 photos of View 2.
"""

import json
import os
import sys
from pathlib import Path

import dlib
import numpy as np
from PIL import Image

DAT = Path(os.environ.get("FACECMP_DLIB_DAT_DIR", Path.home() / ".cache/facecmp/dlib"))
FOLDS = 10


def view2_pairs(pairs_txt: str):
    """(photo a, photo b, same person) for each of View 2's 6,000 pairs, in fold order."""
    pairs = []
    for line in Path(pairs_txt).read_text().splitlines()[1:]:
        f = line.split("\t")
        if len(f) == 3:
            pairs.append((photo(f[0], f[1]), photo(f[0], f[2]), True))
        elif len(f) == 4:
            pairs.append((photo(f[0], f[1]), photo(f[2], f[3]), False))
    return pairs


def photo(name: str, number: str) -> str:
    return f"{name}/{name}_{int(number):04d}.jpg"


def descriptor(network, image: np.ndarray, faces):
    """dlib's descriptor of the face nearest the image centre, or None when there is none."""
    if not faces:
        return None
    height, width = image.shape[:2]

    def off_centre(face):
        left, top, right, bottom = face["rect"]
        return np.hypot((left + right) / 2 - width / 2, (top + bottom) / 2 - height / 2)

    face = min(faces, key=off_centre)
    shape = dlib.full_object_detection(
        dlib.rectangle(*face["rect"]), [dlib.point(x, y) for x, y in face["parts"]]
    )
    chip = dlib.get_face_chip(image, shape, 150, 0.25)
    return np.array(network.compute_face_descriptor(chip))


def fold_accuracies(distance: np.ndarray, same: np.ndarray, unscored_are_errors: bool):
    """Accuracy per fold. A NaN distance (a photo without a face) is an error, or is left out."""
    fold = np.arange(len(same)) * FOLDS // len(same)
    scored = ~np.isnan(distance)
    accuracies = []
    for k in range(FOLDS):
        train = (fold != k) & scored
        candidates = np.unique(distance[train])
        threshold = max(candidates, key=lambda t: ((distance[train] <= t) == same[train]).sum())
        test = (fold == k) if unscored_are_errors else (fold == k) & scored
        correct = ((distance[test] <= threshold) == same[test]) & scored[test]
        accuracies.append(correct.mean())
    return np.array(accuracies)


def main(lfw: str, boxes_json: str, pairs_txt: str) -> int:
    boxes = json.loads(Path(boxes_json).read_text())
    network = dlib.face_recognition_model_v1(str(DAT / "dlib_face_recognition_resnet_model_v1.dat"))
    pairs = view2_pairs(pairs_txt)
    photos = sorted({p for a, b, _ in pairs for p in (a, b)})
    descriptors = {}
    for name in photos:
        image = np.asarray(Image.open(Path(lfw) / name).convert("RGB"))
        descriptors[name] = descriptor(network, image, boxes.get(name, []))
    distance = np.array(
        [
            np.nan
            if descriptors[a] is None or descriptors[b] is None
            else np.linalg.norm(descriptors[a] - descriptors[b])
            for a, b, _ in pairs
        ]
    )
    same = np.array([s for _, _, s in pairs])
    scored = ~np.isnan(distance)
    found = sum(d is not None for d in descriptors.values())
    print(f"{found} of {len(photos)} photos with a face; {scored.sum()} of {len(pairs)} pairs scored")
    all_pairs = fold_accuracies(distance, same, unscored_are_errors=True)
    print(f"all pairs (unscored = error): {100 * all_pairs.mean():.2f} % ± {100 * all_pairs.std(ddof=1):.2f}")
    kept = fold_accuracies(distance, same, unscored_are_errors=False)
    print(f"scored pairs only:            {100 * kept.mean():.2f} % ± {100 * kept.std(ddof=1):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
