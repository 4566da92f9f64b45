#!/usr/bin/env python3
"""Reference descriptors of dlib's face recognition ResNet, for the ONNX port.

For every fixture face (obama, obama2, obama3, biden: the face make_reference.py aligns;
bald_guys: every face YuNet finds) this script

1. takes YuNet's 5 landmarks from the fixtures make_reference.py wrote
   (tests/data/reference/pipeline_similarities.json, yunet_other_images.json: letterbox 640),
2. places the box dlib's detector would give the face from those landmarks (tools/dlib/face_box.json,
   as crates/facecmp/src/embed/dlib_landmarks.rs computes it), runs dlib's own 5-point landmarker
   (shape_predictor_5_face_landmarks, dlib Python) in that box, and builds the 150x150 chip from
   its 5 points as facecmp does: the dlib 5-point template (tools/dlib/chip_template.json,
   dlib5_points), least-squares similarity, bilinear, pixel centres at integer coordinates, black
   outside, rounded half up (make_reference.umeyama / warp_affine); written as
   tests/data/reference/dlib/<name>.png,
3. stores dlib's own descriptor of that PNG, reloaded (face_recognition_model_v1.
   compute_face_descriptor(chip): dlib Python, not the port),
4. and, where dlib finds the face itself, the descriptor of dlib's whole pipeline as the
   face_recognition package runs it (HOG detector with 1 upsampling, shape_predictor_5_face_landmarks,
   compute_face_descriptor(img, shape) = get_face_chip_details(150, 0.25) + extract_image_chips),
   with the cosine between the two: how close our chip comes to dlib's own.

If models/dlib_face_recognition_resnet_model_v1.onnx exists, the port's cosine to dlib on each chip
is stored too (port_cosine), as a check; the descriptors themselves are dlib's.

    pip install -r tools/reference/requirements-dlib.txt
    models/fetch-dlib.sh        # puts the two .dat files in $FACECMP_DLIB_DAT_DIR
    python3 tools/reference/make_dlib_reference.py [--dat-dir DIR]

Output: tests/data/reference/dlib/descriptors.json and the chip PNGs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import dlib
import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
import make_reference as mr  # noqa: E402  (umeyama, warp_affine, load_rgb, sha256)

DATA = ROOT / "tests" / "data"
REF = DATA / "reference"
OUT = REF / "dlib"
ONNX = ROOT / "models" / "dlib_face_recognition_resnet_model_v1.onnx"
TEMPLATE = json.loads((ROOT / "tools" / "dlib" / "chip_template.json").read_text())
RESNET = "dlib_face_recognition_resnet_model_v1.dat"
SP5 = "shape_predictor_5_face_landmarks.dat"
# FaceBox::around's constants (fitted by tools/dlib/fit_face_box.py): centre offset and size in
# spreads of the landmarks (root-mean-square distance from their centroid).
FACE_BOX = {
    k: v
    for k, v in json.loads((ROOT / "tools" / "dlib" / "face_box.json").read_text()).items()
    if k in ("centre_x", "centre_y", "width", "height")
}
DEFAULT_DAT_DIR = Path(os.environ.get("FACECMP_DLIB_DAT_DIR", Path.home() / ".cache" / "facecmp" / "dlib"))


def yunet_faces():
    """(name, image file, YuNet face) for every fixture face, in a fixed order."""
    pipeline = json.loads((REF / "pipeline_similarities.json").read_text())["images"]
    for stem in ("obama", "obama2", "obama3", "biden"):
        yield stem, pipeline[stem]["image"], pipeline[stem]["face"]
    others = json.loads((REF / "yunet_other_images.json").read_text())["images"]
    for i, face in enumerate(others["bald_guys.jpg"]["letterbox640"]["faces"]):
        yield f"bald_guys_{i:02d}", "bald_guys.jpg", face


def face_box(landmarks) -> list[int]:
    """[left, top, right, bottom] in whole pixels, in float32 as facecmp computes it."""
    f = np.float32
    points = np.asarray(landmarks, f)
    centre = points.mean(0, dtype=f)
    spread = np.sqrt(((points - centre) ** 2).sum(1, dtype=f).mean(dtype=f), dtype=f)
    cx, cy = centre[0] + f(FACE_BOX["centre_x"]) * spread, centre[1] + f(FACE_BOX["centre_y"]) * spread
    hw, hh = f(FACE_BOX["width"]) * spread / f(2), f(FACE_BOX["height"]) * spread / f(2)
    return [int(np.floor(v + f(0.5))) for v in (cx - hw, cy - hh, cx + hw, cy + hh)]


def photo_region(rgb, box, m, size: int, grow: float):
    """The photo's pixels around one face, black elsewhere: those the chip `m` reads (its
    quadrangle, a pixel wider for the bilinear neighbours) and the face box grown by `grow` of its
    size on each side (the landmarker reads around its current shape). Returns the bounding
    rectangle of those pixels and its top-left corner in the photo."""
    h, w = rgb.shape[:2]
    a, b = m[:, :2], m[:, 2]
    ys, xs = np.mgrid[0:h, 0:w]
    # chip coordinates of every photo pixel: inside [-2, size + 1] means the warp may read it
    u = a[0, 0] * xs + a[0, 1] * ys + b[0]
    v = a[1, 0] * xs + a[1, 1] * ys + b[1]
    margin = 2 * np.hypot(a[0, 0], a[0, 1])
    read = (u >= -margin) & (u <= size - 1 + margin) & (v >= -margin) & (v <= size - 1 + margin)
    left, top, right, bottom = box
    grow_x, grow_y = grow * (right - left), grow * (bottom - top)
    read |= (xs >= left - grow_x) & (xs <= right + grow_x) & (ys >= top - grow_y) & (ys <= bottom + grow_y)
    rows, cols = np.flatnonzero(read.any(1)), np.flatnonzero(read.any(0))
    y0, y1, x0, x1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    region = np.where(read[..., None], rgb, 0).astype(np.uint8)[y0:y1, x0:x1]
    return np.ascontiguousarray(region), (int(x0), int(y0))


def region_stands_in(region, offset, yunet_landmarks, parts, chip, sp5, template, size: int) -> bool:
    """Whether the region alone gives what the whole photo gave: the same landmarks in the box
    placed from the shifted YuNet landmarks (in float32, as the Rust test shifts them), and the same
    chip to within one grey level (the similarity's translation is computed from other numbers)."""
    shifted = np.asarray(yunet_landmarks, np.float32) - np.asarray(offset, np.float32)
    found = [[p.x, p.y] for p in sp5(region, dlib.rectangle(*face_box(shifted))).parts()]
    if not np.array_equal(np.array(found) + np.array(offset), np.array(parts)):
        return False
    cut = mr.warp_affine(region, mr.umeyama(np.array(found, np.float64), template), size)
    return int(np.abs(cut.astype(np.int64) - chip).max()) <= 1


def stand_in_region(name, rgb, box, m, yunet_landmarks, parts, chip, sp5, template, size: int):
    """The smallest region (of a few growths) that stands in for the photo. None standing in is an
    error: committing the whole photo instead would hide that something reads far outside the face."""
    for grow in (0.0, 0.05, 0.1, 0.15, 0.25, 0.5):
        region, offset = photo_region(rgb, box, m, size, grow)
        if region_stands_in(region, offset, yunet_landmarks, parts, chip, sp5, template, size):
            return region, offset
    raise SystemExit(f"{name}: no region around the face gives the whole photo's landmarks and chip")


def dlib_wheel() -> str:
    """Which PyPI distribution provided the dlib module (dlib-bin's prebuilt wheel, or dlib)."""
    from importlib import metadata

    for dist in ("dlib-bin", "dlib"):
        try:
            return f"{dist}=={metadata.version(dist)}"
        except metadata.PackageNotFoundError:
            pass
    return "unknown"


def cosine(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


def iou(a, b) -> float:  # [x, y, w, h]
    iw = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = iw * ih
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def dumps(obj, pad: str = "") -> str:
    """JSON with every list of numbers on one line (a descriptor is one line, not 128)."""
    inner = pad + " "
    if isinstance(obj, dict) and obj:
        items = [f"{inner}{json.dumps(k)}: {dumps(v, inner)}" for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if (
        isinstance(obj, list)
        and obj
        and not all(
            isinstance(v, (int, float))
            or (isinstance(v, list) and all(isinstance(u, (int, float)) for u in v))
            for v in obj
        )
    ):
        return "[\n" + ",\n".join(inner + dumps(v, inner) for v in obj) + "\n" + pad + "]"
    return json.dumps(obj)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dat-dir", type=Path, default=DEFAULT_DAT_DIR, help=f"holds {RESNET} and {SP5}")
    args = ap.parse_args()

    rec = dlib.face_recognition_model_v1(str(args.dat_dir / RESNET))
    sp5 = dlib.shape_predictor(str(args.dat_dir / SP5))
    hog = dlib.get_frontal_face_detector()
    port = None
    if ONNX.exists():
        import onnxruntime as ort

        port = ort.InferenceSession(str(ONNX), providers=["CPUExecutionProvider"])

    template = np.array(TEMPLATE["dlib5_points"], np.float64)
    size = TEMPLATE["size"]
    OUT.mkdir(parents=True, exist_ok=True)
    images, faces = {}, []
    for name, image, face in yunet_faces():
        if image not in images:
            rgb = mr.load_rgb(DATA / image)
            # face_recognition's default: HOG, upsample once; then the 5-point landmarks
            dets = [(r, sp5(rgb, r)) for r in hog(rgb, 1)]
            images[image] = (rgb, dets)
        rgb, dets = images[image]

        box = face_box(face["landmarks"])
        parts = [[p.x, p.y] for p in sp5(rgb, dlib.rectangle(*box)).parts()]
        m = mr.umeyama(np.array(parts, np.float64), template)
        chip = mr.warp_affine(rgb, m, size)
        png = OUT / f"{name}.png"
        Image.fromarray(chip, "RGB").save(png, optimize=True)
        reloaded = np.asarray(Image.open(png).convert("RGB"))
        assert np.array_equal(reloaded, chip)
        ours = np.array(rec.compute_face_descriptor(reloaded))
        # The decoded photo around the face, lossless: facecmp decodes JPEGs with zune-jpeg, not
        # libjpeg, so the Rust test cuts its chip from these pixels, the ones dlib saw.
        region, offset = stand_in_region(
            name, rgb, box, m, face["landmarks"], parts, chip, sp5, template, size
        )
        # (WebP lossless: a third smaller than PNG, and the same pixels.)
        region_file = OUT / f"{name}.region.webp"
        Image.fromarray(region, "RGB").save(region_file, lossless=True, method=6, quality=100)
        assert np.array_equal(np.asarray(Image.open(region_file).convert("RGB")), region)

        entry = {
            "name": name,
            "image": image,
            "yunet_box": face["box"],
            "yunet_landmarks": face["landmarks"],
            "face_box": box,
            "dlib_landmarks": parts,
            "align_matrix": m.tolist(),
            "chip_png": png.name,
            "chip_png_sha256": mr.sha256(png),
            "photo_region": {
                "file": region_file.name,
                "left": offset[0],
                "top": offset[1],
                "sha256": mr.sha256(region_file),
            },
            "descriptor": ours.tolist(),
            "descriptor_norm": float(np.linalg.norm(ours)),
        }
        if port is not None:
            x = reloaded.astype(np.float32).transpose(2, 0, 1)[None]
            entry["port_cosine"] = cosine(port.run(None, {"image": x})[0][0], ours)

        # dlib's own detection of this face: the HOG box that overlaps YuNet's most
        overlaps = [iou(face["box"], [r.left(), r.top(), r.width(), r.height()]) for r, _ in dets]
        best = int(np.argmax(overlaps)) if dets else None
        overlap = overlaps[best] if dets else 0.0
        if overlap >= 0.3:
            r, shape = dets[best]
            own = np.array(rec.compute_face_descriptor(rgb, shape))
            entry["dlib_pipeline"] = {
                "hog_box": [r.left(), r.top(), r.width(), r.height()],
                "iou_with_yunet_box": overlap,
                "shape5": [[p.x, p.y] for p in shape.parts()],
                "descriptor": own.tolist(),
                "cosine_to_our_chip": cosine(own, ours),
                "euclidean_to_our_chip": float(np.linalg.norm(own - ours)),
            }
        else:
            entry["dlib_pipeline"] = None
        faces.append(entry)
        pipe = entry["dlib_pipeline"]
        print(
            f"{name:13s} |d|={entry['descriptor_norm']:.4f}"
            + (f"  port cos={entry['port_cosine']:.8f}" if port is not None else "")
            + (
                f"  our chip vs dlib's own: cos={pipe['cosine_to_our_chip']:.4f}"
                f" dist={pipe['euclidean_to_our_chip']:.4f}"
                if pipe
                else "  dlib's HOG misses it"
            )
        )

    found = [f["dlib_pipeline"]["cosine_to_our_chip"] for f in faces if f["dlib_pipeline"]]
    ports = [f["port_cosine"] for f in faces if "port_cosine" in f]
    doc = {
        "note": "descriptor = dlib's raw 128-d output (not L2-normalised) on chip_png, computed by dlib "
        "Python; dlib_pipeline = dlib's own detector + 5-point landmarks + chip, where dlib finds the face",
        "versions": {
            "dlib": dlib.__version__,
            "dlib_wheel": dlib_wheel(),
            "dlib_use_cuda": bool(dlib.DLIB_USE_CUDA),
            "python": sys.version.split()[0],
            "numpy": np.__version__,
            "pillow": __import__("PIL").__version__,
            **(
                {"onnxruntime (port_cosine only)": __import__("onnxruntime").__version__}
                if port is not None
                else {}
            ),
        },
        "models_sha256": {
            RESNET: mr.sha256(args.dat_dir / RESNET),
            SP5: mr.sha256(args.dat_dir / SP5),
            **({ONNX.name: mr.sha256(ONNX)} if port is not None else {}),
        },
        "chip": {
            "size": size,
            "padding": TEMPLATE["padding"],
            "template": TEMPLATE["dlib5_points"],
            "face_box": FACE_BOX,
            "method": "dlib's shape_predictor_5_face_landmarks in face_box (from YuNet's landmarks), "
            "make_reference.umeyama (least-squares similarity, its 5 points -> template), "
            "make_reference.warp_affine (bilinear, pixel centres at integer coordinates, black outside, "
            "round half up), RGB PNG",
        },
        "landmarks_from": "YuNet letterbox 640: pipeline_similarities.json (best face) and "
        "yunet_other_images.json (bald_guys.jpg, every face)",
        "summary": {
            "faces": len(faces),
            "dlib_pipeline_found": len(found),
            "min_cosine_our_chip_vs_dlib_pipeline": min(found) if found else None,
            "mean_cosine_our_chip_vs_dlib_pipeline": float(np.mean(found)) if found else None,
            **({"min_port_cosine": min(ports)} if ports else {}),
        },
        "faces": faces,
    }
    out = OUT / "descriptors.json"
    out.write_text(dumps(doc) + "\n")
    print("wrote", out, json.dumps(doc["summary"]))


if __name__ == "__main__":
    main()
