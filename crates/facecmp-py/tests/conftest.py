"""Shared fixtures: the repository's test photos and the facecmp binary."""

import functools
import os
import pathlib
import struct
import zlib

import numpy as np
import pytest

REPO = pathlib.Path(os.environ.get("FACECMP_REPO", pathlib.Path(__file__).resolve().parents[3]))
DATA = REPO / "tests" / "data"


@pytest.fixture(scope="session")
def repo() -> pathlib.Path:
    return REPO


@pytest.fixture(scope="session")
def data() -> pathlib.Path:
    assert (DATA / "obama.jpg").is_file(), f"the test photos are missing from {DATA}"
    return DATA


@pytest.fixture(scope="session")
def facecmp_bin() -> pathlib.Path:
    """The CLI, as built by `cargo test --workspace` (or $FACECMP_BIN)."""
    path = pathlib.Path(os.environ.get("FACECMP_BIN", REPO / "target" / "debug" / "facecmp"))
    if not path.is_file():
        message = f"no facecmp binary at {path} (build it with cargo, or set FACECMP_BIN)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


@functools.lru_cache(maxsize=None)
def _read_png(path: pathlib.Path) -> np.ndarray:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    position, header, compressed = 8, None, bytearray()
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        body = data[position + 8 : position + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            compressed += body
        position += 12 + length
    width, height, depth, colour, _, _, interlace = header
    channels = {2: 3, 6: 4}.get(colour)
    assert depth == 8 and channels and interlace == 0, f"{path}: only 8-bit RGB(A) non-interlaced PNGs"
    stride = width * channels
    raw = zlib.decompress(bytes(compressed))
    rows = np.zeros((height + 1, stride), np.uint8)  # row 0: the zero row above the first
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], np.frombuffer(raw, np.uint8, stride, start + 1)
        up = rows[y]
        if kind == 0:
            rows[y + 1] = line
        elif kind == 1:
            rows[y + 1] = line.reshape(width, channels).cumsum(axis=0, dtype=np.uint8).reshape(-1)
        elif kind == 2:
            rows[y + 1] = line + up
        else:
            out, above, line = bytearray(stride), up.tobytes(), line.tobytes()
            for x in range(stride):
                left = out[x - channels] if x >= channels else 0
                b = above[x]
                if kind == 3:
                    out[x] = (line[x] + ((left + b) >> 1)) & 0xFF
                    continue
                c = above[x - channels] if x >= channels else 0
                p = left + b - c
                pa, pb, pc = abs(p - left), abs(p - b), abs(p - c)
                predictor = left if pa <= pb and pa <= pc else (b if pb <= pc else c)
                out[x] = (line[x] + predictor) & 0xFF
            rows[y + 1] = np.frombuffer(bytes(out), np.uint8)
    pixels = rows[1:].reshape(height, width, channels)[:, :, :3]
    pixels.flags.writeable = False
    return pixels


def read_png(path: pathlib.Path) -> np.ndarray:
    """An 8-bit RGB(A) PNG's pixels as an H×W×3 uint8 RGB array, decoded
    here (numpy and zlib only, no imaging library): PNG is lossless, so these
    are exactly the pixels facecmp decodes from the file."""
    return _read_png(pathlib.Path(path))


@pytest.fixture(scope="session")
def pixels(data):
    """`pixels(name)`: the RGB array of a PNG of tests/data."""
    return lambda name: read_png(data / name)
