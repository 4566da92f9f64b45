#!/usr/bin/env python3
"""Convert dlib's 5-point face landmarker (shape_predictor_5_face_landmarks.dat) for facecmp.

    python3 tools/dlib/shape_predictor.py MODEL.dat models/dlib_shape_predictor_5.bin
    python3 tools/dlib/shape_predictor.py MODEL.dat --summary

Needs numpy (not dlib). The .dat is dlib's `serialize(shape_predictor)` (dlib/image_processing/
shape_predictor.h), in the primitives `convert.py` reads:

    int version (1)
    matrix<float,0,1> initial_shape       -nr, -nc, then nr*nc floats (x0 y0 x1 y1 ...,
                                          in the unit square of the face's box)
    vector<vector<regression_tree>>       per cascade, its trees; a tree is
                                          vector<split_feature> splits (idx1, idx2: ints, thresh)
                                          and vector<matrix<float,0,1>> leaf_values
    vector<vector<unsigned long>>  anchor_idx  per cascade, per feature pixel: its shape point
    vector<vector<vector<float,2>>> deltas     per cascade, per feature pixel: (x, y) from it

The output holds the same numbers as little-endian fixed-width arrays, so that facecmp reads
them where they lie in the binary instead of decoding 1.2 M dlib floats at start-up
(`crates/facecmp/src/embed/dlib_landmarks.rs` reads this layout):

    b"FCSP", u32 format (1)
    u32 parts, cascades, trees per cascade, tree depth, feature pixels per cascade
    f32 initial_shape[2*parts]
    per cascade: u32 anchor[features], then f32 delta[features][2]
    per cascade, per tree: (u32 idx1, u32 idx2, f32 thresh)[2**depth - 1], breadth first
    per cascade, per tree: f32 leaf[2**depth][2*parts]

The values are dlib's float32 numbers bit for bit (each dlib float is an exact m*2**e of a
float32), so the conversion loses nothing; `test_shape_predictor.py` checks that and runs a
NumPy predictor over the converted arrays against dlib's own.
"""

from __future__ import annotations

import argparse
import hashlib
import struct
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from convert import Reader  # noqa: E402

MAGIC = b"FCSP"
FORMAT = 1


@dataclass
class ShapePredictor:
    initial_shape: np.ndarray  # [2*parts] float32
    anchors: np.ndarray  # [cascades, features] uint32
    deltas: np.ndarray  # [cascades, features, 2] float32
    splits_idx: np.ndarray  # [cascades, trees, splits, 2] uint32
    splits_thresh: np.ndarray  # [cascades, trees, splits] float32
    leaves: np.ndarray  # [cascades, trees, leaves, 2*parts] float32

    @property
    def parts(self) -> int:
        return self.initial_shape.size // 2


def read_column(r: Reader) -> list[float]:
    """A dlib matrix<float,0,1>: its dimensions are stored negated."""
    rows, cols = -r.int(), -r.int()
    if rows < 0 or cols != 1:
        raise ValueError(f"expected a column vector, found {rows}x{cols}")
    return [r.float() for _ in range(rows)]


def parse(data: bytes) -> ShapePredictor:
    r = Reader(data)
    if (version := r.int()) != 1:
        raise ValueError(f"shape_predictor version {version}, expected 1")
    initial = read_column(r)
    forests = [[read_tree(r) for _ in range(r.int())] for _ in range(r.int())]
    anchors = [[r.int() for _ in range(r.int())] for _ in range(r.int())]
    deltas = [[(r.float(), r.float()) for _ in range(r.int())] for _ in range(r.int())]
    if r.pos != len(data):
        raise ValueError(f"{len(data) - r.pos} bytes left after the shape predictor")
    return assemble(initial, forests, anchors, deltas)


def read_tree(r: Reader):
    splits = [(r.int(), r.int(), r.float()) for _ in range(r.int())]
    leaves = [read_column(r) for _ in range(r.int())]
    return splits, leaves


def assemble(initial, forests, anchors, deltas) -> ShapePredictor:
    """Checks that every tree is full and of one depth, and every index in range."""
    parts2 = len(initial)
    cascades = len(forests)
    if not (cascades == len(anchors) == len(deltas)) or parts2 % 2:
        raise ValueError("cascades, anchors and deltas disagree")
    splits = {len(s) for forest in forests for s, _ in forest}
    leaves = {len(l) for forest in forests for _, l in forest}
    trees = {len(forest) for forest in forests}
    features = {len(a) for a in anchors} | {len(d) for d in deltas}
    if len(splits) != 1 or len(leaves) != 1 or len(trees) != 1 or len(features) != 1:
        raise ValueError("trees of different shapes: not a layout this converter writes")
    (n_splits,), (n_leaves,), (n_features,) = splits, leaves, features
    if n_leaves != n_splits + 1 or n_leaves & (n_leaves - 1):
        raise ValueError(f"{n_splits} splits and {n_leaves} leaves: not a full tree")
    idx = np.array([[[s[:2] for s in tree[0]] for tree in forest] for forest in forests], np.int64)
    if idx.min() < 0 or idx.max() >= n_features:
        raise ValueError("a split names a feature pixel that does not exist")
    anchor = np.array(anchors, np.int64)
    if anchor.min() < 0 or anchor.max() >= parts2 // 2:
        raise ValueError("a feature pixel is anchored to a shape point that does not exist")
    leaf = np.array([[tree[1] for tree in forest] for forest in forests], np.float64)
    if leaf.shape[-1] != parts2:
        raise ValueError("a leaf's size is not the shape's")
    return ShapePredictor(
        initial_shape=exact_f32(initial),
        anchors=anchor.astype(np.uint32),
        deltas=exact_f32(deltas),
        splits_idx=idx.astype(np.uint32),
        splits_thresh=exact_f32([[[s[2] for s in tree[0]] for tree in forest] for forest in forests]),
        leaves=exact_f32(leaf),
    )


def exact_f32(values) -> np.ndarray:
    """float32 of dlib's floats, refusing any that float32 cannot hold exactly."""
    wide = np.asarray(values, np.float64)
    narrow = wide.astype(np.float32)
    if not np.array_equal(narrow.astype(np.float64), wide):
        raise ValueError("a value is not a float32: dlib wrote these as float")
    return narrow


def encode(sp: ShapePredictor) -> bytes:
    cascades, trees, n_splits = sp.splits_thresh.shape
    depth = (n_splits + 1).bit_length() - 1
    header = MAGIC + struct.pack("<6I", FORMAT, sp.parts, cascades, trees, depth, sp.anchors.shape[1])
    le = lambda a, t: np.ascontiguousarray(a, dtype=np.dtype(t).newbyteorder("<")).tobytes()  # noqa: E731
    pixels = b"".join(le(sp.anchors[c], "u4") + le(sp.deltas[c], "f4") for c in range(cascades))
    splits = np.zeros((cascades, trees, n_splits), dtype=[("a", "<u4"), ("b", "<u4"), ("t", "<f4")])
    splits["a"], splits["b"], splits["t"] = sp.splits_idx[..., 0], sp.splits_idx[..., 1], sp.splits_thresh
    return header + le(sp.initial_shape, "f4") + pixels + splits.tobytes() + le(sp.leaves, "f4")


def decode(data: bytes) -> ShapePredictor:
    """The converted file read back (the tests hold it to `parse` of the .dat)."""
    if data[:4] != MAGIC:
        raise ValueError("not a facecmp shape predictor file")
    fmt, parts, cascades, trees, depth, features = struct.unpack_from("<6I", data, 4)
    if fmt != FORMAT:
        raise ValueError(f"format {fmt}, expected {FORMAT}")
    n_splits, n_leaves = 2**depth - 1, 2**depth
    pos = 28

    def take(dtype, count):
        nonlocal pos
        a = np.frombuffer(data, dtype=dtype, count=count, offset=pos)
        pos += a.nbytes
        return a

    initial = take("<f4", 2 * parts)
    anchors, deltas = [], []
    for _ in range(cascades):
        anchors.append(take("<u4", features))
        deltas.append(take("<f4", 2 * features).reshape(features, 2))
    splits = take([("a", "<u4"), ("b", "<u4"), ("t", "<f4")], cascades * trees * n_splits)
    splits = splits.reshape(cascades, trees, n_splits)
    leaves = take("<f4", cascades * trees * n_leaves * 2 * parts).reshape(
        cascades, trees, n_leaves, 2 * parts
    )
    if pos != len(data):
        raise ValueError(f"{len(data) - pos} bytes left after the shape predictor")
    return ShapePredictor(
        initial_shape=initial,
        anchors=np.stack(anchors),
        deltas=np.stack(deltas),
        splits_idx=np.stack([splits["a"], splits["b"]], axis=-1),
        splits_thresh=splits["t"].copy(),
        leaves=leaves,
    )


def similarity(from_pts: np.ndarray, to_pts: np.ndarray) -> np.ndarray:
    """The 2x2 part of the least-squares similarity from one shape to another (dlib's
    find_tform_between_shapes: Umeyama's method, which for shapes this alike is the plain
    least-squares similarity)."""
    f, t = from_pts - from_pts.mean(0), to_pts - to_pts.mean(0)
    norm = (f**2).sum()
    a = (f * t).sum() / norm
    b = (f[:, 0] * t[:, 1] - f[:, 1] * t[:, 0]).sum() / norm
    return np.array([[a, -b], [b, a]], np.float32)


def predict(sp: ShapePredictor, grey: np.ndarray, rect) -> np.ndarray:
    """dlib's shape_predictor::operator() on a grey image (uint8, dlib's (r+g+b)/3) and a box
    (left, top, right, bottom, inclusive as dlib's rectangle): the parts, rounded to whole
    pixels as dlib's full_object_detection holds them."""
    left, top, right, bottom = rect
    scale = np.array([right - left, bottom - top], np.float64)
    origin = np.array([left, top], np.float64)
    shape = sp.initial_shape.reshape(-1, 2).copy()
    height, width = grey.shape
    for c in range(sp.anchors.shape[0]):
        tform = similarity(sp.initial_shape.reshape(-1, 2), shape)
        at = sp.deltas[c] @ tform.T + shape[sp.anchors[c]]
        pix = np.floor(origin + at.astype(np.float64) * scale + 0.5).astype(np.int64)
        inside = (pix[:, 0] >= 0) & (pix[:, 0] < width) & (pix[:, 1] >= 0) & (pix[:, 1] < height)
        values = np.zeros(len(pix), np.float32)
        values[inside] = grey[pix[inside, 1], pix[inside, 0]]
        for t in range(sp.splits_thresh.shape[1]):
            i = 0
            idx, thresh = sp.splits_idx[c, t], sp.splits_thresh[c, t]
            while i < len(thresh):
                i = 2 * i + 1 if values[idx[i, 0]] - values[idx[i, 1]] > thresh[i] else 2 * i + 2
            shape += sp.leaves[c, t, i - len(thresh)].reshape(-1, 2)
    return np.floor(origin + shape.astype(np.float64) * scale + 0.5).astype(np.int64)


def grey_of(rgb: np.ndarray) -> np.ndarray:
    return (rgb.astype(np.uint32).sum(-1) // 3).astype(np.uint8)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dat", type=Path, help="shape_predictor_5_face_landmarks.dat")
    ap.add_argument("out", type=Path, nargs="?", help="output .bin (omit with --summary)")
    ap.add_argument("--summary", action="store_true", help="print the predictor's sizes")
    args = ap.parse_args(argv)
    sp = parse(args.dat.read_bytes())
    if args.summary or not args.out:
        cascades, trees, n_splits = sp.splits_thresh.shape
        print(
            f"{sp.parts} parts, {cascades} cascades of {trees} trees ({n_splits} splits, "
            f"{sp.leaves.shape[2]} leaves), {sp.anchors.shape[1]} feature pixels per cascade"
        )
    if args.out:
        data = encode(sp)
        args.out.write_bytes(data)
        print(f"wrote {args.out} ({len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
