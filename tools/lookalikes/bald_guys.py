#!/usr/bin/env python3
"""Look-alikes: every pair of bald_guys.jpg's 24 faces, scored by each embedder.

The photo shows 4 bald actors, 6 faces each. Who is who comes from dlib's own
pipeline, not from facecmp: the descriptors that dlib (HOG detector, 5-point
landmarks, get_face_chip, its ResNet) computed for each face, stored by
tools/reference/make_dlib_reference.py, grouped by dlib's rule (Euclidean
distance < 0.6, joined transitively). The script checks that this gives 4
groups of 6, so a changed reference cannot silently change the truth.

Each embedder then scores the 60 genuine and 216 impostor pairs with
`facecmp compare --all --json --far F`, at its own calibrated threshold, and
the script prints how many impostor pairs are accepted and how many genuine
pairs refused.

    python3 tools/lookalikes/bald_guys.py [--facecmp target/release/facecmp]

Standard library only.
"""

import argparse
import itertools
import json
import math
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PHOTO = os.path.join("tests", "data", "bald_guys.jpg")
REFERENCE = os.path.join("tests", "data", "reference", "dlib", "descriptors.json")
DLIB_SAME_PERSON = 0.6  # dlib's documented Euclidean threshold for its ResNet
FARS = ["1e-3", "1e-2"]


def dlib_groups():
    """(box centre, group) per bald_guys face, grouped by dlib's own descriptors."""
    with open(os.path.join(REPO, REFERENCE)) as f:
        faces = [face for face in json.load(f)["faces"] if face["image"] == "bald_guys.jpg"]
    parent = list(range(len(faces)))

    def root(i):
        while parent[i] != i:
            i = parent[i]
        return i

    for i, j in itertools.combinations(range(len(faces)), 2):
        a, b = faces[i]["dlib_pipeline"]["descriptor"], faces[j]["dlib_pipeline"]["descriptor"]
        if math.dist(a, b) < DLIB_SAME_PERSON:
            parent[root(i)] = root(j)
    sizes = sorted(
        sum(1 for i in range(len(faces)) if root(i) == r) for r in set(map(root, range(len(faces))))
    )
    if sizes != [6, 6, 6, 6]:
        sys.exit(f"dlib's descriptors group the faces as {sizes}, not 4 groups of 6")
    return [(box_centre(face["yunet_box"]), root(i)) for i, face in enumerate(faces)]


def box_centre(box):
    x, y, width, height = box
    return (x + width / 2, y + height / 2)


def group_of(face, groups):
    """The group of the reference face whose box centre is nearest this face's."""
    box = face["box"]
    centre = box_centre((box["x"], box["y"], box["width"], box["height"]))
    nearest_centre, group = min(groups, key=lambda g: math.dist(g[0], centre))
    if math.dist(nearest_centre, centre) > box["width"] / 4:
        sys.exit(f"face {face['face']} at {centre} matches no reference face")
    return group


def score(facecmp, runtime, embedder, far, groups):
    command = [facecmp, "--runtime", runtime, "--embedder", embedder, "--min-face-size", "20"]
    command += ["compare", "--all", "--json", "--far", far, PHOTO, PHOTO]
    report = json.loads(subprocess.run(command, cwd=REPO, check=True, capture_output=True).stdout)
    who = [group_of(face, groups) for face in report["a"]["faces"]]
    if len(who) != 24:
        sys.exit(f"{embedder}: {len(who)} faces found, not 24")
    genuine, impostor = [], []
    for i, j in itertools.combinations(range(len(who)), 2):
        (genuine if who[i] == who[j] else impostor).append(report["similarity"][i][j])
    threshold = report["threshold"]
    return {
        "threshold": threshold,
        "impostors_accepted": sum(s >= threshold for s in impostor),
        "impostor_pairs": len(impostor),
        "genuine_refused": sum(s < threshold for s in genuine),
        "genuine_pairs": len(genuine),
        "genuine_min": round(min(genuine), 4),
        "impostor_max": round(max(impostor), 4),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--facecmp", default=os.path.join(REPO, "target", "release", "facecmp"))
    parser.add_argument("--runtime", default="ort", choices=["auto", "tract", "ort"])
    parser.add_argument("--embedders", default="sface,dlib,fused")
    args = parser.parse_args()
    groups = dlib_groups()
    print("embedder  FAR   threshold  impostors accepted  genuine refused  genuine min  impostor max")
    for embedder in args.embedders.split(","):
        for far in FARS:
            r = score(args.facecmp, args.runtime, embedder, far, groups)
            print(
                f"{embedder:8}  {far}  {r['threshold']:9.4f}  "
                f"{r['impostors_accepted']:>8} / {r['impostor_pairs']}  "
                f"{r['genuine_refused']:>9} / {r['genuine_pairs']}  "
                f"{r['genuine_min']:11.4f}  {r['impostor_max']:12.4f}"
            )


if __name__ == "__main__":
    main()
