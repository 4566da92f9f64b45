#!/usr/bin/env python3
"""Convert dlib's face recognition ResNet (dlib_face_recognition_resnet_model_v1.dat) to ONNX.

    python3 tools/dlib/convert.py MODEL.dat models/dlib_face_recognition_resnet_model_v1.onnx
    python3 tools/dlib/convert.py MODEL.dat --summary          # only parse and list the layers

Needs numpy and onnx (not dlib).  The chip convention, the template and the checks are
described in tools/dlib/README.md.

How dlib stores a network
-------------------------
A dlib network is one nested C++ type; `serialize(net)` writes it recursively, the outermost
layer first, and the *type* (not the file) says which layer comes next.  So this parser is
driven by the architecture, written below exactly as `anet_type` in dlib's
examples/dnn_face_recognition_ex.cpp, and checks every version string it meets on the way:

* add_loss_layer: int version (1), the loss details, then the subnetwork.
* add_layer<LAYER, SUB>: int version (2; 2 or 3 when SUB is the input layer), the
  subnetwork, the LAYER details, 3 bools, then tensors x_grad, cached_output and params_grad
  (grad_final + int sample_expansion_factor for version 3 above the input layer).
* add_tag_layer / add_skip_layer: int version (1), the subnetwork.  Nothing else.

Hence the file holds all version ints outermost first, then the input layer, then the layer
details innermost first.  Primitive encodings (dlib/serialize.h, dlib/float_details.h):

* integers: a control byte (low 4 bits = number of bytes, 0x80 = negative), then the magnitude
  little-endian; 0 is written as 01 00.
* float/double: two integers, mantissa (int64) and exponent (int16): value = m * 2**e
  (exponents 32000/32001/32002 mean inf/-inf/nan).
* bool: the ASCII byte '0' or '1'.  string: integer length, then the bytes.
* tensor: int version (2), 4 integers (n, k, nr, nc), then n*k*nr*nc raw little-endian float32.
* alias_tensor (a view into a layer's params): int version (1) and its 4 dimensions.

ONNX graph (opset 13, IR 8; only ops tract and onnxruntime both support well)
---------------------------------------------------------------------------
input  "image"       float32 [N,3,150,150], RGB, 0..255, NCHW (dlib's own pixel values)
       Sub(mean) then Mul(1/256): dlib's input_rgb_image_sized::to_tensor, bit for bit
       (the means are read from the file: 122.782, 117.001, 104.298).
output "descriptor"  float32 [N,128], dlib's raw descriptor (loss_metric does not normalise;
       its norm is 1.38-1.53 on the fixture faces; facecmp L2-normalises it).
Ops: Sub, Mul, Conv, Relu, MaxPool, AveragePool, Pad, Add, GlobalAveragePool, Flatten, MatMul.

Each `affine` (frozen batch norm, y = gamma*x + beta per channel) follows a `con` and is folded
into it: W' = gamma*W, b' = gamma*b + beta, computed in float64 and rounded once to float32.
The error is float rounding (the test checks folded vs unfolded), and it saves 29 Mul+Add pairs
per image.  `--no-fold` keeps them as Mul+Add.

dlib's add_prev adds tensors of different shapes by treating missing elements as 0: the output
has the larger size in every dimension (dlib/cuda/cpu_dlib.cpp, tt::add).  That happens at every
ares_down (the shortcut has half the channels; at 8x8 the strided conv gives 3x3 and the
shortcut 4x4, at 4x4 they give 1x1 and 2x2),
so the smaller operand is zero-padded at the end (Pad) before the Add.

Weights are float32 (22.4 MB): fp16 would halve the file but change the numbers, and the file is
under the 25 MB we allow.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

CHIP = 150  # input_rgb_image_sized<150>


# ----------------------------------------------------------------------------- primitives
class Reader:
    """Reads dlib's serialisation primitives from a byte string."""

    def __init__(self, data: bytes, pos: int = 0):
        self.data = data
        self.pos = pos

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise ValueError(f"unexpected end of data at byte {self.pos} (wanted {n} more)")
        b = self.data[self.pos : self.pos + n]
        self.pos += n
        return b

    def int(self) -> int:
        ctl = self.take(1)[0]
        n = ctl & 0x0F
        if n == 0 or n > 8 or ctl & 0x70:
            raise ValueError(f"bad integer control byte 0x{ctl:02x} at byte {self.pos - 1}")
        v = int.from_bytes(self.take(n), "little")
        return -v if ctl & 0x80 else v

    def float(self) -> float:
        # dlib also reads an old ASCII format (first byte has a bit of 0x70 set); never seen here.
        if self.data[self.pos] & 0x70:
            raise ValueError(f"ASCII float at byte {self.pos}: old dlib format, not supported")
        mantissa, exponent = self.int(), self.int()
        special = {32000: math.inf, 32001: -math.inf, 32002: math.nan}
        return special[exponent] if exponent in special else math.ldexp(mantissa, exponent)

    def bool(self) -> bool:
        c = self.take(1)
        if c not in (b"0", b"1"):
            raise ValueError(f"bad bool {c!r} at byte {self.pos - 1}")
        return c == b"1"

    def string(self) -> str:
        return self.take(self.int()).decode("ascii")

    def expect_version(self, allowed, what: str):
        v = self.int()
        if v not in allowed:
            raise ValueError(f"{what}: version {v} at byte {self.pos}, expected one of {allowed}")
        return v

    def expect_string(self, allowed, what: str) -> str:
        at = self.pos
        s = self.string()
        if s not in allowed:
            raise ValueError(f"{what}: found {s!r} at byte {at}, expected one of {allowed}")
        return s

    def tensor(self) -> np.ndarray:
        self.expect_version((2,), "tensor")
        shape = tuple(self.int() for _ in range(4))
        count = int(np.prod(shape))
        return np.frombuffer(self.take(4 * count), "<f4").reshape(shape).copy()

    def alias_tensor(self) -> tuple:
        self.expect_version((1,), "alias_tensor")
        return tuple(self.int() for _ in range(4))


# ----------------------------------------------------------------------------- architecture
@dataclass
class Layer:
    kind: str  # loss_metric fc avg_pool max_pool relu affine con add_prev tag skip input
    arg: dict = field(default_factory=dict)  # what the C++ type fixes (sizes, tag ids)
    version: int | None = None
    details: dict = field(default_factory=dict)  # what the file says


def L(kind, **arg):
    return Layer(kind, dict(arg))


# The templates of dnn_face_recognition_ex.cpp, as lists of layers outermost first.
def block(n, stride, sub):  # BN<con<N,3,3,1,1,relu<BN<con<N,3,3,stride,stride,SUBNET>>>>>
    return [L("affine"), L("con", n=n, k=3, s=1), L("relu"), L("affine"), L("con", n=n, k=3, s=stride), *sub]


def ares(n, sub):  # relu<add_prev1<block<N,affine,1,tag1<SUBNET>>>>
    return [L("relu"), L("add_prev", tag=1), *block(n, 1, [L("tag", id=1), *sub])]


def ares_down(n, sub):  # relu<add_prev2<avg_pool<2,2,2,2,skip1<tag2<block<N,affine,2,tag1<SUBNET>>>>>>>
    return [
        L("relu"),
        L("add_prev", tag=2),
        L("avg_pool", k=2, s=2),
        L("skip", id=1),
        L("tag", id=2),
        *block(n, 2, [L("tag", id=1), *sub]),
    ]


def anet_type():
    inner = [L("max_pool", k=3, s=2), L("relu"), L("affine"), L("con", n=32, k=7, s=2), L("input")]
    level4 = ares(32, ares(32, ares(32, inner)))
    level3 = ares(64, ares(64, ares(64, ares_down(64, level4))))
    level2 = ares(128, ares(128, ares_down(128, level3)))
    level1 = ares(256, ares(256, ares_down(256, level2)))
    level0 = ares_down(256, level1)
    return [L("loss_metric"), L("fc", n=128, bias=False), L("avg_pool", k=0, s=1), *level0]


# ----------------------------------------------------------------------------- parser
def read_input(r: Reader) -> dict:
    r.expect_string(("input_rgb_image_sized",), "input layer")
    d = {"avg_red": r.float(), "avg_green": r.float(), "avg_blue": r.float(), "nr": r.int(), "nc": r.int()}
    if (d["nr"], d["nc"]) != (CHIP, CHIP):
        raise ValueError(f"input is {d['nr']}x{d['nc']}, expected {CHIP}x{CHIP}")
    return d


def split_params(params: np.ndarray, *shapes) -> list[np.ndarray]:
    """Cut a layer's flat params tensor into its alias_tensor views (consecutive, in order)."""
    flat, out, at = params.reshape(-1), [], 0
    for shape in shapes:
        n = int(np.prod(shape))
        out.append(flat[at : at + n].reshape(shape))
        at += n
    if at != flat.size:
        raise ValueError(f"params hold {flat.size} floats, the views {shapes} use {at}")
    return out


def read_details(r: Reader, layer: Layer) -> dict:
    k, a = layer.kind, layer.arg
    if k == "con":
        ver = r.expect_string(("con_4", "con_5", "con_6"), "con")
        params = r.tensor()
        d = {
            "num_filters": r.int(),
            "nr": r.int(),
            "nc": r.int(),
            "stride_y": r.int(),
            "stride_x": r.int(),
            "padding_y": r.int(),
            "padding_x": r.int(),
        }
        fshape, bshape = r.alias_tensor(), r.alias_tensor()
        d["multipliers"] = [r.float() for _ in range(4)]
        d["use_bias"] = r.bool() if ver in ("con_5", "con_6") else True
        d["use_relu"] = r.bool() if ver == "con_6" else False
        want = (a["n"], a["k"], a["k"], a["s"], a["s"])
        if (d["num_filters"], d["nr"], d["nc"], d["stride_y"], d["stride_x"]) != want or d["use_relu"]:
            raise ValueError(f"con at byte {r.pos}: {d} does not match the architecture {want}")
        views = (
            split_params(params, fshape, bshape) if d["use_bias"] else split_params(params, fshape) + [None]
        )
        d["filters"], d["biases"] = views[0], None if views[1] is None else views[1].reshape(-1)
        d["version"] = ver
        return d
    if k == "affine":
        ver = r.expect_string(("affine_", "affine_2"), "affine")
        params = r.tensor()
        gshape, bshape = r.alias_tensor(), r.alias_tensor()
        mode = r.int()
        disabled = r.bool() if ver == "affine_2" else False
        if mode != 0 or disabled:  # 0 = CONV_MODE: one gamma/beta per channel
            raise ValueError(f"affine mode {mode} disabled={disabled}: only enabled CONV_MODE is handled")
        g, b = split_params(params, gshape, bshape)
        return {"version": ver, "gamma": g.reshape(-1), "beta": b.reshape(-1)}
    if k == "relu":
        ver = r.expect_string(("relu_", "relu_2"), "relu")
        if ver == "relu_2" and r.bool():
            raise ValueError("disabled relu is not handled")
        return {"version": ver}
    if k in ("max_pool", "avg_pool"):
        ver = r.expect_string((f"{k}_2",), k)
        d = {
            "nr": r.int(),
            "nc": r.int(),
            "stride_y": r.int(),
            "stride_x": r.int(),
            "padding_y": r.int(),
            "padding_x": r.int(),
            "version": ver,
        }
        if (d["nr"], d["nc"], d["stride_y"], d["stride_x"]) != (a["k"], a["k"], a["s"], a["s"]):
            raise ValueError(f"{k}: {d} does not match the architecture {a}")
        return d
    if k == "add_prev":
        return {"version": r.expect_string(("add_prev_",), "add_prev")}
    if k == "fc":
        ver = r.expect_string(("fc_2", "fc_3"), "fc")
        d = {"num_outputs": r.int(), "num_inputs": r.int()}
        params = r.tensor()
        wshape, bshape = r.alias_tensor(), r.alias_tensor()
        d["bias_mode"] = r.int()  # 0 FC_HAS_BIAS, 1 FC_NO_BIAS
        d["multipliers"] = [r.float() for _ in range(4)]
        d["use_bias"] = r.bool() if ver == "fc_3" else True
        if d["bias_mode"] != 1 or d["num_outputs"] != a["n"]:
            raise ValueError(f"fc: {d} is not fc_no_bias<{a['n']}>")
        (w,) = split_params(params, wshape)
        d["weights"] = w.reshape(d["num_inputs"], d["num_outputs"])  # dlib: out = in x W
        d["version"] = ver
        return d
    raise ValueError(f"no details reader for {k}")


def read_layers(r: Reader, layers: list[Layer], i: int) -> None:
    """Deserialise layers[i:] (layers[i] wraps layers[i+1], and so on) the way dlib does."""
    layer = layers[i]
    if layer.kind == "input":
        layer.details = read_input(r)
        return
    if layer.kind in ("tag", "skip"):
        layer.version = r.expect_version((1,), layer.kind)
        read_layers(r, layers, i + 1)
        return
    above_input = layers[i + 1].kind == "input"
    layer.version = r.expect_version((2, 3) if above_input else (1, 2), f"add_layer<{layer.kind}>")
    read_layers(r, layers, i + 1)
    layer.details = read_details(r, layer)
    flags = [r.bool() for _ in range(3)]  # setup_called, gradient_input_is_stale, output/gradient disabled
    if not flags[0]:
        raise ValueError(f"{layer.kind} was never set up: not a trained network")
    n_tensors = (
        3 if (layer.version >= 2 or above_input) else 2
    )  # x_grad, cached_output, params_grad/grad_final
    leftovers = [r.tensor() for _ in range(n_tensors)]
    if above_input and layer.version == 3:
        r.int()  # sample_expansion_factor
    layer.details["training_state_floats"] = sum(t.size for t in leftovers)


def parse(data: bytes) -> list[Layer]:
    layers = anet_type()
    r = Reader(data)
    r.expect_version((1,), "add_loss_layer")
    ver = r.expect_string(("loss_metric_", "loss_metric_2"), "loss")
    loss = layers[0]
    loss.details = {"version": ver}
    if ver == "loss_metric_2":
        loss.details.update(margin=r.float(), dist_thresh=r.float())
    read_layers(r, layers, 1)
    if r.pos != len(data):
        raise ValueError(f"{len(data) - r.pos} bytes left after the network")
    return layers


# ----------------------------------------------------------------------------- ONNX
def pool_out(n: int, k: int, s: int, p: int) -> int:
    return 1 + (n + 2 * p - k) // s  # dlib's and ONNX's (floor) output size


def build_onnx(layers: list[Layer], fold_affine: bool = True, source_sha256: str = ""):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes, inits = [], []
    counter = {}

    def name(prefix):
        counter[prefix] = counter.get(prefix, 0) + 1
        return f"{prefix}{counter[prefix]}"

    def const(prefix, array):
        n = name(prefix)
        inits.append(numpy_helper.from_array(np.ascontiguousarray(array), n))
        return n

    def node(op, inputs, **attrs):
        out = name(op.lower() + "_")
        nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
        return out

    def pad_to(v, shape, out_shape):  # zeros at the end of C, H and W, as dlib's tt::add reads them
        if shape == out_shape:
            return v
        ends = [o - c for o, c in zip(out_shape, shape, strict=True)]
        pads = np.array([0, 0, 0, 0, 0, *ends], np.int64)  # begins N C H W, then ends N C H W
        return node("Pad", [v, const("pads", pads)], mode="constant")

    inp = layers[-1].details
    mean = np.array([inp["avg_red"], inp["avg_green"], inp["avg_blue"]], np.float32).reshape(1, 3, 1, 1)
    x = node("Sub", ["image", const("input_mean", mean)])
    x = node("Mul", [x, const("input_scale", np.array(1 / 256, np.float32))])  # exact: a power of two
    shape = (3, CHIP, CHIP)  # C, H, W of x
    tags = {}

    outer_to_inner = layers[:-1]
    i = len(outer_to_inner) - 1
    while i >= 0:
        layer, d = outer_to_inner[i], outer_to_inner[i].details
        k = layer.kind
        if k == "con":
            w = d["filters"].astype(np.float64)
            b = d["biases"].astype(np.float64) if d["biases"] is not None else np.zeros(w.shape[0])
            if fold_affine and i > 0 and outer_to_inner[i - 1].kind == "affine":
                aff = outer_to_inner[i - 1].details
                g, beta = aff["gamma"].astype(np.float64), aff["beta"].astype(np.float64)
                w, b = w * g[:, None, None, None], b * g + beta
                i -= 1  # the affine is consumed
            py, px = d["padding_y"], d["padding_x"]
            x = node(
                "Conv",
                [x, const("conv_w", w.astype(np.float32)), const("conv_b", b.astype(np.float32))],
                kernel_shape=[d["nr"], d["nc"]],
                strides=[d["stride_y"], d["stride_x"]],
                pads=[py, px, py, px],
            )
            shape = (
                d["num_filters"],
                pool_out(shape[1], d["nr"], d["stride_y"], py),
                pool_out(shape[2], d["nc"], d["stride_x"], px),
            )
        elif k == "affine":
            c = shape[0]
            x = node("Mul", [x, const("affine_gamma", d["gamma"].reshape(1, c, 1, 1))])
            x = node("Add", [x, const("affine_beta", d["beta"].reshape(1, c, 1, 1))])
        elif k == "relu":
            x = node("Relu", [x])
        elif k in ("max_pool", "avg_pool") and d["nr"] > 0:
            py, px = d["padding_y"], d["padding_x"]
            op = "MaxPool" if k == "max_pool" else "AveragePool"
            x = node(
                op,
                [x],
                kernel_shape=[d["nr"], d["nc"]],
                strides=[d["stride_y"], d["stride_x"]],
                pads=[py, px, py, px],
            )
            shape = (
                shape[0],
                pool_out(shape[1], d["nr"], d["stride_y"], py),
                pool_out(shape[2], d["nc"], d["stride_x"], px),
            )
        elif k == "avg_pool":  # avg_pool_everything: window 0x0 = the whole plane
            x = node("GlobalAveragePool", [x])
            shape = (shape[0], 1, 1)
        elif k == "tag":
            tags[layer.arg["id"]] = (x, shape)
        elif k == "skip":
            x, shape = tags[layer.arg["id"]]
        elif k == "add_prev":
            other, oshape = tags[layer.arg["tag"]]
            out_shape = tuple(max(p, q) for p, q in zip(shape, oshape, strict=True))
            x = node("Add", [pad_to(x, shape, out_shape), pad_to(other, oshape, out_shape)])
            shape = out_shape
        elif k == "fc":
            x = node("Flatten", [x], axis=1)
            if d["num_inputs"] != int(np.prod(shape)):
                raise ValueError(f"fc expects {d['num_inputs']} inputs, the network gives {shape}")
            x = node("MatMul", [x, const("fc_w", d["weights"])])  # dlib: out = in x W, W [in, out]
            shape = (d["num_outputs"],)
        elif k == "loss_metric":
            pass  # loss_metric's to_label copies the fc output unchanged
        else:
            raise ValueError(f"cannot convert {k}")
        i -= 1
    nodes[-1].output[0] = "descriptor"

    graph = helper.make_graph(
        nodes,
        "dlib_face_recognition_resnet_model_v1",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, CHIP, CHIP])],
        [helper.make_tensor_value_info("descriptor", TensorProto.FLOAT, ["N", shape[0]])],
        inits,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 13)],
        producer_name="facecmp tools/dlib/convert.py",
        producer_version="1",
        doc_string="dlib_face_recognition_resnet_model_v1 (Davis E. King, CC0) converted to ONNX. "
        "Input image float32 [N,3,150,150] RGB 0..255 (a dlib face chip); output descriptor "
        "float32 [N,128], dlib's raw descriptor (not L2-normalised).",
    )
    model.ir_version = 8  # onnx 1.10+ / onnxruntime 1.10+ / tract: nothing newer is needed
    meta = {
        "source": "dlib_face_recognition_resnet_model_v1.dat",
        "source_sha256": source_sha256,
        "licence": "CC0-1.0",
        "affine_folded": str(fold_affine).lower(),
    }
    for k, v in meta.items():
        model.metadata_props.add(key=k, value=v)
    onnx.checker.check_model(model, full_check=True)
    return model


# ----------------------------------------------------------------------------- chip template
# dlib's mean face shape: points 17..67 of the iBUG 68-point layout, in a unit square
# (dlib/image_transforms/interpolation.h, get_face_chip_details).
# fmt: off
MEAN_FACE_X = [
    0.000213256, 0.0752622, 0.18113, 0.29077, 0.393397, 0.586856, 0.689483, 0.799124,
    0.904991, 0.98004, 0.490127, 0.490127, 0.490127, 0.490127, 0.36688, 0.426036,
    0.490127, 0.554217, 0.613373, 0.121737, 0.187122, 0.265825, 0.334606, 0.260918,
    0.182743, 0.645647, 0.714428, 0.793132, 0.858516, 0.79751, 0.719335, 0.254149,
    0.340985, 0.428858, 0.490127, 0.551395, 0.639268, 0.726104, 0.642159, 0.556721,
    0.490127, 0.423532, 0.338094, 0.290379, 0.428096, 0.490127, 0.552157, 0.689874,
    0.553364, 0.490127, 0.42689,
]
MEAN_FACE_Y = [
    0.106454, 0.038915, 0.0187482, 0.0344891, 0.0773906, 0.0773906, 0.0344891,
    0.0187482, 0.038915, 0.106454, 0.203352, 0.307009, 0.409805, 0.515625,
    0.587326, 0.609345, 0.628106, 0.609345, 0.587326, 0.216423, 0.178758,
    0.179852, 0.231733, 0.245099, 0.244077, 0.231733, 0.179852, 0.178758,
    0.216423, 0.244077, 0.245099, 0.780233, 0.745405, 0.727388, 0.742578,
    0.727388, 0.745405, 0.780233, 0.864805, 0.902192, 0.909281, 0.902192,
    0.864805, 0.784792, 0.778746, 0.785343, 0.778746, 0.784792, 0.824182,
    0.831803, 0.824182,
]
# fmt: on
PADDING = 0.25
# YuNet's 5 landmarks as iBUG points: the subject's right eye (36-41, smaller x in the image),
# left eye (42-47), nose tip (30), right mouth corner (48), left mouth corner (54).
YUNET_AS_IBUG = [range(36, 42), range(42, 48), [30], [48], [54]]
# dlib's 5-point shape in the unit square, as get_face_chip_details places it (interpolation.h):
# the outer and inner corner of the eye at the image's right, the same of the other eye, the
# base of the nose. facecmp places its chip by these (crates/facecmp/src/embed/dlib.rs).
DLIB5_UNIT = [
    [0.8595674595992, 0.2134981538014],
    [0.6460604764104, 0.2289674387677],
    [0.1205750620789, 0.2137274526848],
    [0.3340850613712, 0.2290642403242],
    [0.4901123135679, 0.6277975316475],
]


def chip_template(size: int = CHIP, padding: float = PADDING) -> dict:
    """Where YuNet's 5 landmarks sit in a dlib face chip (see tools/dlib/README.md)."""

    def mean(ids):
        return [sum(v[i - 17] for i in ids) / len(ids) for v in (MEAN_FACE_X, MEAN_FACE_Y)]

    def r(points):
        return [[round(c, 4) for c in p] for p in points]

    unit = [mean(ids) for ids in YUNET_AS_IBUG]

    # get_face_chip_details: chip point = (padding + p) / (1 + 2 padding) * size ...
    def chip_points(points):
        return [[(padding + c) / (1 + 2 * padding) * size for c in p] for p in points]

    # ... and extract_image_chips puts pixel centre 0 and size-1 on the edges of a rectangle
    # size*scale wide, so in pixel-centre coordinates (facecmp's warp) the chip is q*(size-1)/size.
    def at_pixel_centres(points):
        return [[c * (size - 1) / size for c in p] for p in points]

    dlib_from = chip_points(unit)
    pixel = at_pixel_centres(dlib_from)
    return {
        "dlib5_order": [
            "outer corner of the eye at the image's right",
            "its inner corner",
            "outer corner of the other eye",
            "its inner corner",
            "base of the nose",
        ],
        "dlib5_points": r(at_pixel_centres(chip_points(DLIB5_UNIT))),
        "dlib5_note": "where dlib's own 5 landmarks (shape_predictor_5_face_landmarks) go: the template "
        "facecmp's dlib chip uses; 'points' below is the YuNet mapping used until 2026-12-07",
        "size": size,
        "padding": padding,
        "order": [
            "right eye centre",
            "left eye centre",
            "nose tip",
            "right mouth corner",
            "left mouth corner",
        ],
        "points": r(pixel),
        "convention": "pixel units in the size x size chip, pixel centres at integer coordinates "
        "(facecmp's warp, OpenCV warpAffine); warp with the least-squares similarity from YuNet's 5 "
        "landmarks to these points, bilinear",
        "dlib_from_points": r(dlib_from),
        "mean_shape_unit": [[round(c, 6) for c in p] for p in unit],
        "ibug_points": [list(ids) for ids in YUNET_AS_IBUG],
        "derivation": "tools/dlib/README.md; generated by python3 tools/dlib/convert.py --write-template",
    }


# ----------------------------------------------------------------------------- CLI
def summary(layers: list[Layer]) -> str:
    lines = []
    for idx, layer in enumerate(layers):
        d = layer.details
        extra = ""
        if layer.kind == "con":
            bias = d["biases"] is not None
            extra = f"{d['filters'].shape} stride {d['stride_y']} pad {d['padding_y']} bias {bias}"
        elif layer.kind in ("max_pool", "avg_pool"):
            extra = f"{d['nr']}x{d['nc']} stride {d['stride_y']} pad {d['padding_y']}"
        elif layer.kind == "fc":
            extra = f"weights {d['weights'].shape} no bias"
        elif layer.kind in ("tag", "skip"):
            extra = f"id {layer.arg['id']}"
        elif layer.kind == "add_prev":
            extra = f"tag {layer.arg['tag']}"
        elif layer.kind in ("input", "loss_metric"):
            extra = {k: v for k, v in d.items() if k != "version"}
        lines.append(f"layer<{idx}> {layer.kind} {d.get('version', '')} {extra}")
    return "\n".join(lines)


def dump_json(obj: dict) -> str:
    """One top-level key a line: small diffs, still readable."""
    return "{\n" + ",\n".join(f" {json.dumps(k)}: {json.dumps(v)}" for k, v in obj.items()) + "\n}\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dat", type=Path, nargs="?", help="dlib_face_recognition_resnet_model_v1.dat")
    ap.add_argument("onnx", type=Path, nargs="?", help="output .onnx (omit with --summary)")
    ap.add_argument("--no-fold", action="store_true", help="keep affine layers as Mul+Add")
    ap.add_argument("--summary", action="store_true", help="print the parsed layers")
    ap.add_argument("--write-template", type=Path, metavar="JSON", help="write the 150x150 chip template")
    args = ap.parse_args(argv)
    if args.write_template:
        args.write_template.write_text(dump_json(chip_template()))
        print("wrote", args.write_template)
        if args.dat is None:
            return 0

    if args.dat is None:
        ap.error("give the .dat file")
    data = args.dat.read_bytes()
    layers = parse(data)
    if args.summary:
        print(summary(layers))
    if args.onnx:
        import onnx

        model = build_onnx(
            layers, fold_affine=not args.no_fold, source_sha256=hashlib.sha256(data).hexdigest()
        )
        onnx.save(model, str(args.onnx))
        print(
            f"wrote {args.onnx} ({args.onnx.stat().st_size} bytes, {len(model.graph.node)} nodes, "
            f"sha256 {hashlib.sha256(args.onnx.read_bytes()).hexdigest()})"
        )
    elif not args.summary:
        ap.error("give an output path or --summary")
    return 0


if __name__ == "__main__":
    sys.exit(main())
