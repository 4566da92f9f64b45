#!/usr/bin/env python3
"""Fit facecmp's FaceBox (crates/facecmp/src/embed/dlib_landmarks.rs): where dlib's frontal
face detector puts its box, from YuNet's five landmarks.

    facecmp detect --json LFW_DIR/<the photos outside View 2> > yunet.jsonl
    python3 tools/dlib/dlib_boxes.py LFW_DIR boxes.json
    python3 tools/dlib/fit_face_box.py yunet.jsonl boxes.json --exclude data/lfw/pairs.txt \
        --write tools/dlib/face_box.json

The box is centred at the landmarks' centroid plus (CENTRE_X, CENTRE_Y) times their spread (the
root-mean-square distance from the centroid), WIDTH x HEIGHT spreads in size. Each constant is
the median over the photos where YuNet's face nearest the centre and one of dlib's boxes are the
same face (dlib's box centre inside YuNet's box): medians, because a few of dlib's boxes are
loose. Photos of View 2 are left out, so that LFW's report is on photos the fit never saw.

The constants live in face_box.json (--write updates its numbers): make_dlib_reference.py reads
them from there, and the Rust test `the_face_box_is_the_fitted_one` holds FaceBox's to them.
"""

import argparse
import json
import sys

import numpy as np


def view2_photos(pairs_txt: str) -> set[str]:
    photos = set()
    for line in open(pairs_txt).read().splitlines()[1:]:
        f = line.split("\t")
        named = [(f[0], f[1]), (f[0], f[2])] if len(f) == 3 else [(f[0], f[1]), (f[2], f[3])]
        photos |= {f"{name}/{name}_{int(n):04d}.jpg" for name, n in named}
    return photos


def centroid_and_spread(landmarks: np.ndarray):
    centre = landmarks.mean(0)
    return centre, np.sqrt(((landmarks - centre) ** 2).sum(1).mean())


def nearest_centre(faces, width, height):
    centre = np.array([width / 2, height / 2])
    return min(
        faces,
        key=lambda f: np.hypot(
            *(
                np.array([f["box"]["x"] + f["box"]["width"] / 2, f["box"]["y"] + f["box"]["height"] / 2])
                - centre
            )
        ),
    )


def observations(yunet_lines, boxes, excluded):
    """Per photo: the dlib box in the units of YuNet's landmarks' centroid and spread."""
    for line in yunet_lines:
        photo = json.loads(line)
        key = "/".join(photo["file"].split("/")[-2:])
        if key in excluded or not photo.get("faces") or not boxes.get(key):
            continue
        face = nearest_centre(photo["faces"], photo["width"], photo["height"])
        x, y, w, h = (face["box"][k] for k in ("x", "y", "width", "height"))
        centre, spread = centroid_and_spread(np.array([[p["x"], p["y"]] for p in face["landmarks"]], float))
        for d in boxes[key]:
            left, top, right, bottom = d["rect"]
            box_centre = np.array([(left + right) / 2, (top + bottom) / 2])
            if x <= box_centre[0] <= x + w and y <= box_centre[1] <= y + h:
                offset = (box_centre - centre) / spread
                yield offset[0], offset[1], (right - left) / spread, (bottom - top) / spread
                break


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("yunet", help="facecmp detect --json output (JSON lines)")
    ap.add_argument("boxes", help="dlib_boxes.py output")
    ap.add_argument("--exclude", help="pairs.txt whose photos are left out of the fit")
    ap.add_argument("--write", help="face_box.json whose four constants are set to the fit")
    args = ap.parse_args(argv)
    excluded = view2_photos(args.exclude) if args.exclude else set()
    boxes = json.load(open(args.boxes))
    fits = np.array(list(observations(open(args.yunet), boxes, excluded)))
    if len(fits) == 0:
        print("no photo where both found the face", file=sys.stderr)
        return 1
    medians = np.median(fits, 0)
    spread = np.percentile(fits, [10, 90], 0)
    print(f"{len(fits)} photos (dlib and YuNet agree on the face)")
    for name, m, (lo, hi) in zip(["CENTRE_X", "CENTRE_Y", "WIDTH", "HEIGHT"], medians, spread.T):
        print(f"    const {name}: f32 = {m:.4f};   // 10-90 %: {lo:.4f} .. {hi:.4f}")
    if args.write:
        write_constants(args.write, medians)
    return 0


def write_constants(path: str, medians) -> None:
    """Sets the four numbers in `path`, keeping its notes."""
    try:
        doc = json.load(open(path))
    except FileNotFoundError:
        doc = {}
    for key, value in zip(["centre_x", "centre_y", "width", "height"], medians):
        doc[key] = round(float(value), 4)
    with open(path, "w") as out:
        json.dump(doc, out, indent=1, ensure_ascii=False)
        out.write("\n")
    print("wrote", path, "(now set FaceBox's constants in dlib_landmarks.rs to match)")


if __name__ == "__main__":
    sys.exit(main())
