"""Tests of the 5-point landmarker's conversion:  python3 -m pytest tools/dlib

Without the .dat (models/fetch-dlib.sh) or without dlib the tests that need them skip.
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
import shape_predictor  # noqa: E402

BIN = ROOT / "models" / "dlib_shape_predictor_5.bin"
DAT_DIR = Path(os.environ.get("FACECMP_DLIB_DAT_DIR", Path.home() / ".cache" / "facecmp" / "dlib"))
DAT = DAT_DIR / "shape_predictor_5_face_landmarks.dat"
PHOTOS = ["obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg", "bald_guys.jpg"]

needs_dat = pytest.mark.skipif(not DAT.exists(), reason=f"{DAT} absent (models/fetch-dlib.sh)")


@pytest.fixture(scope="module")
def parsed():
    return shape_predictor.parse(DAT.read_bytes())


def test_floats_that_float32_cannot_hold_are_refused():
    assert shape_predictor.exact_f32([0.5, -2.25]).dtype == np.float32
    with pytest.raises(ValueError):
        shape_predictor.exact_f32([0.1])  # 0.1 as a float64 is not a float32


def test_the_bundled_file_reads_back_with_dlibs_sizes():
    sp = shape_predictor.decode(BIN.read_bytes())
    assert sp.parts == 5
    assert sp.anchors.shape == (15, 800) and sp.anchors.max() < 5
    assert sp.splits_thresh.shape == (15, 500, 15) and sp.leaves.shape == (15, 500, 16, 10)
    assert sp.splits_idx.max() < 800


def test_a_truncated_or_foreign_file_is_refused():
    data = BIN.read_bytes()
    with pytest.raises(ValueError):
        shape_predictor.decode(data[:-4])
    with pytest.raises(ValueError):
        shape_predictor.decode(b"NOPE" + data[4:])


@needs_dat
def test_conversion_reproduces_the_bundled_file(parsed):
    data = shape_predictor.encode(parsed)
    listed = (ROOT / "models" / "SHA256SUMS").read_text()
    assert f"{hashlib.sha256(data).hexdigest()}  {BIN.name}" in listed
    assert data == BIN.read_bytes()


@needs_dat
def test_numpy_predictor_gives_dlibs_own_landmarks(parsed):
    dlib = pytest.importorskip("dlib")
    from PIL import Image

    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(str(DAT))
    faces = 0
    for name in PHOTOS:
        rgb = np.asarray(Image.open(ROOT / "tests" / "data" / name).convert("RGB"))
        grey = shape_predictor.grey_of(rgb)
        for box in detector(rgb, 1):
            rect = (box.left(), box.top(), box.right(), box.bottom())
            theirs = np.array([[p.x, p.y] for p in predictor(rgb, box).parts()])
            ours = shape_predictor.predict(parsed, grey, rect)
            assert np.array_equal(ours, theirs), f"{name} {rect}: {ours.tolist()} vs {theirs.tolist()}"
            faces += 1
    assert faces >= 20
