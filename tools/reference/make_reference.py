#!/usr/bin/env python3
"""Produce the Python reference fixtures in tests/data/reference/.

These fixtures are what the Rust implementation of facecmp is checked against:
YuNet detections, the 5-point similarity alignment to a 112x112 crop, SFace
embeddings and end-to-end cosine similarities.  Nothing here uses OpenCV; every
step is written out explicitly with numpy so that it can be reproduced exactly.

How to run (from the repository root):

    pip install -r tools/reference/requirements.txt
    # i.e. pip install onnxruntime numpy pillow onnx  (pinned versions in that file)
    python3 tools/reference/make_reference.py

Inputs:  models/face_detection_yunet_2023mar.onnx,
         models/face_recognition_sface_2021dec_int8bq.onnx,
         tests/data/{obama,obama2,obama3,biden,bald_guys}.jpg, 32bit.png, no_face.png
Outputs: tests/data/reference/*.json, *_aligned.png, yunet_obama_input640.png

Conventions (all documented again in tests/data/reference/README.md):

* YuNet input: BGR, float32 in 0..255, NCHW, no mean/std normalisation.
  The ONNX graph declares a fixed 1x3x640x640 input and onnxruntime enforces
  that, so the *primary* reference uses a 640x640 letterbox: the image is
  resized with scale s = min(640/W, 640/H) to (round(W*s), round(H*s)) using
  bilinear interpolation with half-pixel centres (OpenCV INTER_LINEAR
  semantics, computed in float64, no antialiasing, rounded half-up to uint8),
  placed top-left, and the rest padded with 0.  Coordinates are mapped back
  with x * W/new_w, y * H/new_h.
  A secondary result ("native_pad32") runs the same graph with the input dims
  made symbolic in memory (needs the `onnx` package) on the original image
  zero-padded bottom/right to a multiple of 32 (what OpenCV's FaceDetectorYN
  does); no resampling is involved there.
* Decoding: for stride s in (8, 16, 32) the grid is (H/s) x (W/s), row-major;
  score = sqrt(clamp01(cls) * clamp01(obj)); cx = (c + b0) * s,
  cy = (r + b1) * s, w = exp(b2) * s, h = exp(b3) * s; box = (cx - w/2,
  cy - h/2, w, h); landmark k = ((c + kps[2k]) * s, (r + kps[2k+1]) * s).
  Keep score >= 0.6, then greedy NMS (float IoU, suppress if IoU > 0.3) in
  descending score order.
* Alignment: Umeyama least-squares similarity (no reflection) from the 5
  landmarks to the ArcFace 112x112 template; warp = for every output pixel
  (x, y) sample the source at M^-1 (x, y) with bilinear interpolation, pixel
  centres at integer coordinates, out-of-image neighbours = 0 (OpenCV
  warpAffine + BORDER_CONSTANT 0, but in float64 rather than OpenCV's 1/32
  pixel fixed point), rounded half-up to uint8, done on RGB.
* SFace: the aligned crop reloaded from PNG, RGB, float32 0..255, NCHW
  1x3x112x112, input "data", output "fc1" (1x128).  The graph also declares
  29 unused float-weight inputs without initializers; onnxruntime requires a
  feed for them, so zeros are passed (verified not to change the output).
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
MODELS = ROOT / "models"
DATA = ROOT / "tests" / "data"
OUT = DATA / "reference"

YUNET = MODELS / "face_detection_yunet_2023mar.onnx"
SFACE = MODELS / "face_recognition_sface_2021dec_int8bq.onnx"

SCORE_THRESHOLD = 0.6
NMS_THRESHOLD = 0.3
STRIDES = (8, 16, 32)
DET_SIZE = 640

TEMPLATE = np.array(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ],
    dtype=np.float64,
)
CROP = 112


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def session(model: bytes | str) -> ort.InferenceSession:
    so = ort.SessionOptions()
    so.log_severity_level = 3  # SFace lists its initializers as graph inputs: silence the warnings
    so.intra_op_num_threads = 1
    return ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])


def load_rgb(path: Path) -> np.ndarray:
    """uint8 HxWx3 RGB (alpha dropped, no colour management, EXIF orientation ignored)."""
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.uint8)


def round_u8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.floor(x + 0.5), 0, 255).astype(np.uint8)


# ---------------------------------------------------------------- resize / letterbox
def resize_bilinear(img: np.ndarray, new_w: int, new_h: int) -> np.ndarray:
    """OpenCV INTER_LINEAR semantics (half-pixel centres, edge clamp), float64, rounded."""
    h, w = img.shape[:2]
    src = img.astype(np.float64)

    def coords(n_dst: int, n_src: int):
        f = (np.arange(n_dst) + 0.5) * (n_src / n_dst) - 0.5
        i0 = np.floor(f).astype(np.int64)
        t = f - i0
        # OpenCV: left of the first centre -> weight on pixel 0; right of last -> last pixel
        t = np.where(i0 < 0, 0.0, t)
        i0 = np.clip(i0, 0, n_src - 1)
        i1 = np.clip(i0 + 1, 0, n_src - 1)
        t = np.where(i0 >= n_src - 1, 0.0, t)
        return i0, i1, t

    x0, x1, tx = coords(new_w, w)
    y0, y1, ty = coords(new_h, h)
    rows = src[y0] * (1 - ty)[:, None, None] + src[y1] * ty[:, None, None]
    out = rows[:, x0] * (1 - tx)[None, :, None] + rows[:, x1] * tx[None, :, None]
    return round_u8(out)


def letterbox(rgb: np.ndarray, size: int = DET_SIZE):
    h, w = rgb.shape[:2]
    s = min(size / w, size / h)
    new_w, new_h = int(round(w * s)), int(round(h * s))
    canvas = np.zeros((size, size, 3), np.uint8)
    canvas[:new_h, :new_w] = resize_bilinear(rgb, new_w, new_h)
    return canvas, (w / new_w, h / new_h), (new_w, new_h)


def pad32(rgb: np.ndarray):
    h, w = rgb.shape[:2]
    ph, pw = (h + 31) // 32 * 32, (w + 31) // 32 * 32
    canvas = np.zeros((ph, pw, 3), np.uint8)
    canvas[:h, :w] = rgb
    return canvas


# ---------------------------------------------------------------- YuNet
def yunet_blob(rgb_canvas: np.ndarray) -> np.ndarray:
    bgr = rgb_canvas[:, :, ::-1].astype(np.float32)
    return np.ascontiguousarray(bgr.transpose(2, 0, 1)[None])


def decode(outputs: dict, in_h: int, in_w: int):
    faces = []
    for s in STRIDES:
        gh, gw = in_h // s, in_w // s
        cls = outputs[f"cls_{s}"].reshape(-1)
        obj = outputs[f"obj_{s}"].reshape(-1)
        bbox = outputs[f"bbox_{s}"].reshape(-1, 4).astype(np.float64)
        kps = outputs[f"kps_{s}"].reshape(-1, 10).astype(np.float64)
        assert cls.shape[0] == gh * gw, (s, cls.shape, gh, gw)
        score = np.sqrt(np.clip(cls.astype(np.float64), 0, 1) * np.clip(obj.astype(np.float64), 0, 1))
        for idx in np.nonzero(score >= SCORE_THRESHOLD)[0]:
            r, c = divmod(int(idx), gw)
            b = bbox[idx]
            cx, cy = (c + b[0]) * s, (r + b[1]) * s
            bw, bh = math.exp(b[2]) * s, math.exp(b[3]) * s
            lm = [[(c + kps[idx, 2 * k]) * s, (r + kps[idx, 2 * k + 1]) * s] for k in range(5)]
            faces.append(
                {
                    "box": [cx - bw / 2, cy - bh / 2, bw, bh],
                    "score": float(score[idx]),
                    "landmarks": lm,
                    "stride": s,
                    "cell": [r, c],
                }
            )
    return nms(faces)


def iou(a, b) -> float:
    ax2, ay2 = a[0] + a[2], a[1] + a[3]
    bx2, by2 = b[0] + b[2], b[1] + b[3]
    iw = max(0.0, min(ax2, bx2) - max(a[0], b[0]))
    ih = max(0.0, min(ay2, by2) - max(a[1], b[1]))
    inter = iw * ih
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def nms(faces):
    faces = sorted(faces, key=lambda f: -f["score"])
    keep = []
    for f in faces:
        if all(iou(f["box"], k["box"]) <= NMS_THRESHOLD for k in keep):
            keep.append(f)
    return keep


def scale_face(f, sx: float, sy: float):
    x, y, w, h = f["box"]
    return {
        "box": [x * sx, y * sy, w * sx, h * sy],
        "score": f["score"],
        "landmarks": [[p[0] * sx, p[1] * sy] for p in f["landmarks"]],
        "stride": f["stride"],
        "cell": f["cell"],
    }


class YuNet:
    def __init__(self):
        self.sess = session(str(YUNET))
        self.dynamic = None
        try:
            import onnx  # optional: only for the native_pad32 variant

            m = onnx.load(str(YUNET))
            d = m.graph.input[0].type.tensor_type.shape.dim
            d[2].dim_param, d[3].dim_param = "H", "W"
            for o in m.graph.output:
                o.type.tensor_type.shape.dim[1].dim_param = "N"
            self.dynamic = session(m.SerializeToString())
        except ImportError:
            print("onnx not installed: skipping native_pad32 variant", file=sys.stderr)

    def describe(self):
        ins = [(i.name, i.shape, i.type) for i in self.sess.get_inputs()]
        outs = [(o.name, o.shape, o.type) for o in self.sess.get_outputs()]
        return ins, outs

    def run(self, sess, canvas_rgb):
        names = [o.name for o in sess.get_outputs()]
        res = sess.run(names, {sess.get_inputs()[0].name: yunet_blob(canvas_rgb)})
        return dict(zip(names, res))

    def accepts_non_640(self) -> str:
        try:
            self.sess.run(None, {"input": np.zeros((1, 3, 320, 480), np.float32)})
            return "yes"
        except Exception as e:  # noqa: BLE001
            return f"no: {str(e).splitlines()[0]}"

    def detect_letterbox(self, rgb):
        canvas, (sx, sy), new_wh = letterbox(rgb)
        faces = decode(self.run(self.sess, canvas), DET_SIZE, DET_SIZE)
        return [scale_face(f, sx, sy) for f in faces], canvas, new_wh

    def detect_native(self, rgb):
        if self.dynamic is None:
            return None, None
        canvas = pad32(rgb)
        faces = decode(self.run(self.dynamic, canvas), *canvas.shape[:2])
        return [scale_face(f, 1.0, 1.0) for f in faces], canvas.shape[:2]


# ---------------------------------------------------------------- alignment
def umeyama(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """2x3 similarity M with dst ~= M @ [src, 1] (least squares, no reflection)."""
    n = src.shape[0]
    mu_s, mu_d = src.mean(0), dst.mean(0)
    sc, dc = src - mu_s, dst - mu_d
    cov = dc.T @ sc / n
    u, sv, vt = np.linalg.svd(cov)
    d = np.ones(2)
    if np.linalg.det(cov) < 0:
        d[-1] = -1
    r = u @ np.diag(d) @ vt
    var_s = (sc**2).sum(1).mean()
    scale = (sv * d).sum() / var_s
    t = mu_d - scale * r @ mu_s
    return np.hstack([scale * r, t[:, None]])


def warp_affine(rgb: np.ndarray, m: np.ndarray, size: int = CROP) -> np.ndarray:
    h, w = rgb.shape[:2]
    a, b = m[:, :2], m[:, 2]
    ainv = np.linalg.inv(a)
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float64)
    pts = np.stack([xs.ravel() - b[0], ys.ravel() - b[1]])
    sx, sy = ainv @ pts
    x0, y0 = np.floor(sx).astype(np.int64), np.floor(sy).astype(np.int64)
    fx, fy = sx - x0, sy - y0
    src = rgb.astype(np.float64)

    def px(yy, xx):
        ok = (xx >= 0) & (xx < w) & (yy >= 0) & (yy < h)
        v = np.zeros((yy.size, 3))
        v[ok] = src[yy[ok], xx[ok]]
        return v

    out = (
        px(y0, x0) * ((1 - fx) * (1 - fy))[:, None]
        + px(y0, x0 + 1) * (fx * (1 - fy))[:, None]
        + px(y0 + 1, x0) * ((1 - fx) * fy)[:, None]
        + px(y0 + 1, x0 + 1) * (fx * fy)[:, None]
    )
    return round_u8(out.reshape(size, size, 3))


# ---------------------------------------------------------------- SFace
class SFace:
    def __init__(self):
        self.sess = session(str(SFACE))
        self.inp = self.sess.get_inputs()[0]
        self.out = self.sess.get_outputs()[0]
        # The int8bq graph still declares the 29 original float weight tensors
        # (conv_*_weight, pre_fc1_weight/bias) as graph inputs without
        # initializers, although no node reads them (the nodes use the
        # DequantizeLinear -> Reshape outputs).  onnxruntime insists on a feed
        # for every such input, so give them zeros; they do not affect "fc1".
        self.dummy = {
            i.name: np.zeros(i.shape, np.float32) for i in self.sess.get_inputs()[1:]
        }

    def embed(self, crop_rgb_u8: np.ndarray) -> np.ndarray:
        blob = np.ascontiguousarray(crop_rgb_u8.astype(np.float32).transpose(2, 0, 1)[None])
        return self.sess.run([self.out.name], {self.inp.name: blob, **self.dummy})[0].reshape(-1)


def l2n(v: np.ndarray) -> np.ndarray:
    v = v.astype(np.float64)
    return v / np.linalg.norm(v)


def write_json(name: str, obj) -> None:
    (OUT / name).write_text(json.dumps(obj, indent=1) + "\n")
    print("wrote", OUT / name)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    versions = {
        "python": sys.version.split()[0],
        "onnxruntime": ort.__version__,
        "numpy": np.__version__,
        "pillow": Image.__version__ if hasattr(Image, "__version__") else __import__("PIL").__version__,
    }
    models = {
        YUNET.name: sha256(YUNET),
        SFACE.name: sha256(SFACE),
    }
    det = YuNet()
    rec = SFace()
    ins, outs = det.describe()
    print("YuNet inputs:", ins)
    print("YuNet outputs:")
    for o in outs:
        print("   ", o)
    accepts = det.accepts_non_640()
    print("onnxruntime accepts non-640 YuNet input as declared:", accepts)
    print("SFace input:", rec.inp.name, rec.inp.shape, rec.inp.type,
          f"(+{len(rec.dummy)} unused float-weight graph inputs fed with zeros)")
    print("SFace output:", rec.out.name, rec.out.shape)

    common = {"versions": versions, "models_sha256": models}

    # ---------------- (a) detection on obama.jpg
    def detect_file(name: str):
        path = DATA / name
        rgb = load_rgb(path)
        faces, canvas, new_wh = det.detect_letterbox(rgb)
        native, native_hw = det.detect_native(rgb)
        return path, rgb, faces, canvas, new_wh, native, native_hw

    path, rgb, faces, canvas, new_wh, native, native_hw = detect_file("obama.jpg")
    Image.fromarray(canvas).save(OUT / "yunet_obama_input640.png")
    yunet_obama = {
        **common,
        "image": path.name,
        "image_sha256": sha256(path),
        "image_size_wh": [rgb.shape[1], rgb.shape[0]],
        "input_size_wh": [DET_SIZE, DET_SIZE],
        "preprocess": {
            "mode": "letterbox_top_left",
            "resized_wh": list(new_wh),
            "resize": "bilinear, half-pixel centres (OpenCV INTER_LINEAR semantics), float64, round half up to uint8",
            "pad_value": 0,
            "channel_order": "BGR",
            "dtype": "float32 0..255 NCHW, no normalisation",
            "map_back": "x * W/resized_w, y * H/resized_h",
            "letterboxed_input_png": "yunet_obama_input640.png (RGB)",
        },
        "yunet_outputs": [{"name": n, "shape": s} for n, s, _ in outs],
        "onnxruntime_accepts_non_640_input": accepts,
        "score_threshold": SCORE_THRESHOLD,
        "nms_iou_threshold": NMS_THRESHOLD,
        "faces": faces,
        "native_pad32": None
        if native is None
        else {
            "note": "same graph with input dims made symbolic in memory; image zero-padded bottom/right to a multiple of 32; no resize",
            "input_size_wh": [native_hw[1], native_hw[0]],
            "faces": native,
        },
    }
    write_json("yunet_obama.json", yunet_obama)

    # ---------------- (b)+(c) align + embed, and (d) the pipeline
    embeddings = {}
    per_image = {}
    for name in ["obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg"]:
        path, rgb, faces, _, new_wh, native, _ = detect_file(name)
        if not faces:
            raise SystemExit(f"no face found in {name}")
        best = faces[0]
        m = umeyama(np.array(best["landmarks"]), TEMPLATE)
        crop = warp_affine(rgb, m)
        stem = Path(name).stem
        png = OUT / f"{stem}_aligned.png"
        Image.fromarray(crop, "RGB").save(png)
        reloaded = np.asarray(Image.open(png).convert("RGB"))
        assert np.array_equal(reloaded, crop)
        raw = rec.embed(reloaded)
        norm = l2n(raw)
        embeddings[stem] = norm
        per_image[stem] = {
            "image": name,
            "image_sha256": sha256(path),
            "num_faces": len(faces),
            "face": best,
            "native_pad32_best_face": native[0] if native else None,
            "align_matrix": m.tolist(),
            "aligned_png": png.name,
            "aligned_png_sha256": sha256(png),
            "embedding_normalized": norm.tolist(),
        }
        if stem == "obama":
            yunet_obama["align"] = {
                "face_index": 0,
                "template_112": TEMPLATE.tolist(),
                "matrix_2x3": m.tolist(),
                "method": "Umeyama similarity (no reflection); warp samples source at M^-1(x,y), "
                "bilinear, pixel centres at integer coords, border constant 0, RGB, round half up",
                "aligned_png": png.name,
            }
            write_json("yunet_obama.json", yunet_obama)
            write_json(
                "sface_obama_aligned.json",
                {
                    **common,
                    "input": png.name,
                    "input_sha256": sha256(png),
                    "preprocess": "PNG -> uint8 RGB -> float32 0..255, NCHW 1x3x112x112, no normalisation",
                    "input_name": rec.inp.name,
                    "output_name": rec.out.name,
                    "raw": [float(x) for x in raw],
                    "raw_norm": float(np.linalg.norm(raw.astype(np.float64))),
                    "normalized": norm.tolist(),
                },
            )

    def cos(a, b):
        return float(np.dot(embeddings[a], embeddings[b]))

    pairs = [("obama", "obama2", True), ("obama", "obama3", True), ("obama", "biden", False), ("obama3", "biden", False)]
    sims = []
    for a, b, same in pairs:
        c = cos(a, b)
        sims.append({"a": a, "b": b, "same_person": same, "cosine": c, "match_at_0.363": c >= 0.363})
        print(f"cosine({a}, {b}) = {c:.6f}  same_person={same}")
    write_json(
        "pipeline_similarities.json",
        {
            **common,
            "detector_preprocess": "letterbox 640 (see yunet_obama.json)",
            "cosine_threshold_opencv_sface": 0.363,
            "pairs": sims,
            "images": per_image,
        },
    )

    # ---------------- detections on the other fixtures (sanity / face counts)
    others = {}
    for name in ["bald_guys.jpg", "32bit.png", "no_face.png", "obama_partial_face.jpg", "obama_partial_face2.jpg"]:
        p = DATA / name
        if not p.exists():
            continue
        path, rgb, faces, _, new_wh, native, native_hw = detect_file(name)
        others[name] = {
            "image_sha256": sha256(p),
            "image_size_wh": [rgb.shape[1], rgb.shape[0]],
            "letterbox640": {"resized_wh": list(new_wh), "faces": faces},
            "native_pad32": None if native is None else {"input_size_wh": [native_hw[1], native_hw[0]], "faces": native},
        }
        print(f"{name}: {len(faces)} face(s) letterbox640, {None if native is None else len(native)} native_pad32")
    write_json("yunet_other_images.json", {**common, "images": others})


if __name__ == "__main__":
    main()
