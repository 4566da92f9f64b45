"""Tests of the dlib -> ONNX converter:  python3 -m pytest tools/dlib

Without the .dat (models/fetch-dlib.sh puts it in $FACECMP_DLIB_DAT_DIR, default
~/.cache/facecmp/dlib), without dlib or without onnxruntime the tests that need them skip.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import struct
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
import convert  # noqa: E402

ONNX = ROOT / "models" / "dlib_face_recognition_resnet_model_v1.onnx"
REF = ROOT / "tests" / "data" / "reference" / "dlib"
DAT_DIR = Path(os.environ.get("FACECMP_DLIB_DAT_DIR", Path.home() / ".cache" / "facecmp" / "dlib"))
DAT = DAT_DIR / "dlib_face_recognition_resnet_model_v1.dat"
DAT_SHA256 = "55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30"

needs_dat = pytest.mark.skipif(not DAT.exists(), reason=f"{DAT} absent (models/fetch-dlib.sh)")


# ----------------------------------------------------------------------------- encoders
# dlib's writers (serialize.h pack_int, float_details.h), to build test bytes by hand.
def pack_int(v: int) -> bytes:
    mag = abs(v).to_bytes(max(1, (abs(v).bit_length() + 7) // 8), "little")
    return bytes([len(mag) | (0x80 if v < 0 else 0)]) + mag


def pack_float32(x: float) -> bytes:
    m, e = math.frexp(np.float32(x))
    mantissa, exponent = int(m * (1 << 24)), e - 24  # digits = 24 for float
    for _ in range(8):
        if mantissa & 0xFF or mantissa == 0:
            break
        mantissa >>= 8
        exponent += 8
    return pack_int(mantissa) + pack_int(exponent)


def pack_string(s: str) -> bytes:
    return pack_int(len(s)) + s.encode()


# ----------------------------------------------------------------------------- primitives
@pytest.mark.parametrize(
    "raw, value",
    [
        (b"\x01\x00", 0),  # zero still takes one byte
        (b"\x01\x02", 2),
        (b"\x01\xff", 255),
        (b"\x02\x00\x01", 256),
        (b"\x81\x01", -1),
        (b"\x82\x2c\x01", -300),
        (b"\x08" + (2**63 - 1).to_bytes(8, "little"), 2**63 - 1),
    ],
)
def test_int_decoding(raw, value):
    r = convert.Reader(raw)
    assert r.int() == value and r.pos == len(raw)
    assert pack_int(value) == raw


@pytest.mark.parametrize("raw", [b"\x00", b"\x09" + bytes(9), b"\x11\x00", b"\x02\x01"])
def test_bad_ints_are_refused(raw):
    with pytest.raises(ValueError):
        convert.Reader(raw).int()


def test_float_decoding_from_the_files_own_header():
    # loss_metric_2 margin and dist_thresh, as they open the real file
    r = convert.Reader(bytes.fromhex("030ad7a3811c039a99998118"))
    assert r.float() == float(np.float32(0.04))
    assert r.float() == float(np.float32(0.6))


@pytest.mark.parametrize("x", [0.0, 1.0, 0.5, -1.25, 122.782, 117.001, 104.298, 1e-30, -3.4e38])
def test_float_round_trip(x):
    assert convert.Reader(pack_float32(x)).float() == float(np.float32(x))


def test_special_floats():
    r = convert.Reader(
        pack_int(0) + pack_int(32000) + pack_int(0) + pack_int(32001) + pack_int(0) + pack_int(32002)
    )
    assert r.float() == math.inf and r.float() == -math.inf and math.isnan(r.float())


def test_ascii_floats_are_refused():
    with pytest.raises(ValueError, match="ASCII"):
        convert.Reader(b"1.5 ").float()


def test_bool_string_tensor():
    data = b"1" + b"0" + pack_string("con_4") + pack_int(2)
    data += b"".join(pack_int(d) for d in (1, 2, 1, 3)) + struct.pack("<6f", *range(6))
    data += pack_int(1) + b"".join(pack_int(d) for d in (2, 3, 1, 1))
    r = convert.Reader(data)
    assert r.bool() is True and r.bool() is False
    assert r.string() == "con_4"
    t = r.tensor()
    assert t.shape == (1, 2, 1, 3) and t.dtype == np.float32 and t.ravel().tolist() == list(range(6))
    assert r.alias_tensor() == (2, 3, 1, 1)
    assert r.pos == len(data)
    with pytest.raises(ValueError):
        convert.Reader(b"x").bool()
    with pytest.raises(ValueError, match="end of data"):
        convert.Reader(pack_int(2) + pack_int(1) * 4 + b"\x00").tensor()


def test_architecture_matches_dnn_face_recognition_ex():
    kinds = Counter(layer.kind for layer in convert.anet_type())
    assert kinds == {
        "con": 29,
        "affine": 29,
        "relu": 29,
        "tag": 18,
        "add_prev": 14,
        "avg_pool": 5,
        "skip": 4,
        "max_pool": 1,
        "fc": 1,
        "loss_metric": 1,
        "input": 1,
    }


def test_template_is_what_the_converter_derives():
    assert json.loads((HERE / "chip_template.json").read_text()) == json.loads(
        convert.dump_json(convert.chip_template())
    )


# ----------------------------------------------------------------------------- the real file
@pytest.fixture(scope="module")
def layers():
    if not DAT.exists():
        pytest.skip(f"{DAT} absent (models/fetch-dlib.sh)")
    data = DAT.read_bytes()
    assert hashlib.sha256(data).hexdigest() == DAT_SHA256
    return convert.parse(data)  # raises unless every byte is accounted for


def test_real_file_layers(layers):
    assert len(layers) == 132
    con = [layer.details for layer in layers if layer.kind == "con"]
    assert [d["filters"].shape for d in con[-2:]] == [(32, 32, 3, 3), (32, 3, 7, 7)]
    assert con[0]["filters"].shape == (256, 256, 3, 3)
    assert {d["version"] for d in con} == {"con_4"} and all(d["biases"] is not None for d in con)
    # dlib's default padding: k/2 at stride 1, none at stride 2
    assert all(d["padding_y"] == (d["nr"] // 2 if d["stride_y"] == 1 else 0) for d in con)
    affine = [layer.details for layer in layers if layer.kind == "affine"]
    assert all(
        a["gamma"].shape == a["beta"].shape == (c["num_filters"],) for a, c in zip(affine, con, strict=True)
    )
    fc = layers[1].details
    assert fc["weights"].shape == (256, 128) and fc["version"] == "fc_2"
    inp = layers[-1].details
    assert [inp["avg_red"], inp["avg_green"], inp["avg_blue"]] == [
        float(np.float32(v)) for v in (122.782, 117.001, 104.298)
    ]
    n = sum(
        d[k].size
        for layer in layers
        for d in [layer.details]
        for k in ("filters", "biases", "gamma", "beta", "weights")
        if d.get(k) is not None
    )
    assert n == 5_614_592
    assert sum(layer.details.get("training_state_floats", 0) for layer in layers) == 0  # a clean() net


def test_conversion_is_reproducible(layers):
    model = convert.build_onnx(layers, source_sha256=DAT_SHA256)
    assert model.SerializeToString() == ONNX.read_bytes()


# ----------------------------------------------------------------------------- the ONNX file
def test_onnx_file_is_listed_in_sha256sums():
    sums = dict(line.split()[::-1] for line in (ROOT / "models" / "SHA256SUMS").read_text().splitlines())
    assert sums[ONNX.name] == hashlib.sha256(ONNX.read_bytes()).hexdigest()


def test_onnx_graph_uses_plain_ops():
    onnx = pytest.importorskip("onnx")
    m = onnx.load(str(ONNX))
    assert [(o.domain, o.version) for o in m.opset_import] == [("", 13)] and m.ir_version == 8
    ops = Counter(n.op_type for n in m.graph.node)
    assert set(ops) <= {
        "Sub",
        "Mul",
        "Conv",
        "Relu",
        "MaxPool",
        "AveragePool",
        "Pad",
        "Add",
        "GlobalAveragePool",
        "Flatten",
        "MatMul",
    }
    assert ops["Conv"] == 29 and ops["Add"] == 14

    def dims(v):
        return [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]

    assert [(i.name, dims(i)) for i in m.graph.input] == [("image", ["N", 3, 150, 150])]
    assert [(o.name, dims(o)) for o in m.graph.output] == [("descriptor", ["N", 128])]
    # float32 weights; the Pad amounts are int64
    assert {t.data_type for t in m.graph.initializer if not t.name.startswith("pads")} == {
        onnx.TensorProto.FLOAT
    }


@pytest.fixture(scope="module")
def reference():
    doc = json.loads((REF / "descriptors.json").read_text())
    from PIL import Image

    chips = np.stack([np.asarray(Image.open(REF / f["chip_png"]).convert("RGB")) for f in doc["faces"]])
    return doc, chips, np.array([f["descriptor"] for f in doc["faces"]])


def to_nchw(chips: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(chips.astype(np.float32).transpose(0, 3, 1, 2))


def cosines(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


def test_onnxruntime_matches_dlib_on_the_chips(reference):
    ort = pytest.importorskip("onnxruntime")
    doc, chips, want = reference
    sess = ort.InferenceSession(str(ONNX), providers=["CPUExecutionProvider"])
    batch = sess.run(None, {"image": to_nchw(chips)})[0]  # all faces at once: the batch dim is free
    single = np.concatenate([sess.run(None, {"image": to_nchw(c[None])})[0] for c in chips[:3]])
    assert batch.shape == (len(chips), 128)
    assert cosines(batch, want).min() >= 0.9999
    assert np.abs(batch - want).max() < 1e-4  # in practice ~1e-6: float rounding only
    np.testing.assert_allclose(single, batch[:3], atol=1e-5)


@pytest.mark.parametrize("fact", [None, "1,3,150,150,f32"])
def test_tract_matches_dlib_on_the_chips(reference, fact):
    """tract's Python bindings, the same tract version as the Rust crate, symbolic or fixed batch."""
    tract = pytest.importorskip("tract")
    _, chips, want = reference
    model = tract.onnx().load(str(ONNX))
    if fact:
        model.set_input_fact(0, fact)
    runnable = model.into_model().into_runnable()
    x = to_nchw(chips)
    batches = [x[i : i + 1] for i in range(len(x))] if fact else [x]
    got = np.concatenate([runnable.run([b])[0].to_numpy() for b in batches])
    assert cosines(got, want).min() >= 0.9999
    assert np.abs(got - want).max() < 1e-4


def test_folding_the_affine_layers_changes_nothing_but_rounding(layers, reference):
    ort = pytest.importorskip("onnxruntime")
    _, chips, want = reference
    x = to_nchw(chips[:4])

    def run(model):
        sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        return sess.run(None, {"image": x})[0]

    folded, plain = run(convert.build_onnx(layers)), run(convert.build_onnx(layers, fold_affine=False))
    assert np.abs(folded - plain).max() < 1e-5
    assert np.abs(plain - want[:4]).max() < 1e-4


@needs_dat
def test_dlib_itself_reproduces_the_reference(reference):
    dlib = pytest.importorskip("dlib")
    doc, chips, want = reference
    rec = dlib.face_recognition_model_v1(str(DAT))
    got = np.array([rec.compute_face_descriptor(np.ascontiguousarray(c)) for c in chips[:4]])
    np.testing.assert_allclose(got, want[:4], atol=1e-5)


@needs_dat
def test_template_matches_dlibs_chip_geometry():
    """Blobs drawn at the template points of a known face pose land where chip_template.json says.

    The pose is given to dlib as a 68-point detection that is the mean face shape itself, moved by a
    known similarity; dlib.get_face_chip then undoes it.  Sub-pixel residue (up to ~0.35 px) comes
    from dlib's integer landmarks, its pyramid above 2x downscaling, and 1/scale terms (README).
    """
    dlib = pytest.importorskip("dlib")
    t = convert.chip_template()
    size, pad = t["size"], t["padding"]
    mean68 = {
        i: ((pad + x) / (1 + 2 * pad) * size, (pad + y) / (1 + 2 * pad) * size)
        for i, x, y in zip(range(17, 68), convert.MEAN_FACE_X, convert.MEAN_FACE_Y, strict=True)
    }
    for scale, angle in ((0.8, 0.1), (1.5, -0.2), (3.0, 0.3)):
        a = scale * np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
        off = np.array([60.0 * scale + 40] * 2)

        def to_img(p, a=a, off=off):
            return a @ np.asarray(p, float) + off

        side = int(off[0] + 230 * scale + 20)
        yy, xx = np.mgrid[0:side, 0:side].astype(np.float64)
        img = np.zeros((side, side))
        for q in t["dlib_from_points"]:
            cx, cy = to_img(q)
            img += 250 * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * (1.5 * scale) ** 2))
        rgb = np.ascontiguousarray(
            np.repeat(np.clip(np.round(img), 0, 255).astype(np.uint8)[..., None], 3, 2)
        )
        pts = dlib.points()
        for i in range(68):
            x, y = to_img(mean68.get(i, (75.0, 75.0)))  # the jaw (0-16) is ignored by dlib
            pts.append(dlib.point(int(round(x)), int(round(y))))
        chip = dlib.get_face_chip(
            rgb, dlib.full_object_detection(dlib.rectangle(0, 0, side - 1, side - 1), pts), size, pad
        )
        chip = chip[..., 0].astype(np.float64)
        for px, py in t["points"]:
            x0, y0 = int(round(px)), int(round(py))
            win = chip[y0 - 7 : y0 + 8, x0 - 7 : x0 + 8]
            gy, gx = np.mgrid[y0 - 7 : y0 + 8, x0 - 7 : x0 + 8]
            centroid = np.array([(win * gx).sum(), (win * gy).sum()]) / win.sum()
            assert np.abs(centroid - [px, py]).max() < 0.4, (scale, (px, py), centroid)
