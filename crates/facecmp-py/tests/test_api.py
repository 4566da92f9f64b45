"""compare, detect and embed: paths, bytes and numpy arrays in, numpy out."""

import os
import pathlib

import numpy as np
import pytest

import facecmp


def test_compare_same_and_different_people(data):
    same = facecmp.compare(data / "obama.jpg", data / "obama2.jpg")
    assert same.same is True
    assert 0.6 < same.similarity <= 1.0
    # The CLI's default threshold: SFace's published 0.363.
    assert same.threshold == pytest.approx(0.363, abs=1e-6)
    assert same.a.index == 0 and same.b.index == 0
    assert len(same.a.landmarks) == len(facecmp.LANDMARK_NAMES) == 5
    different = facecmp.compare(str(data / "obama.jpg"), str(data / "biden.jpg"))
    assert different.same is False
    assert different.similarity < different.threshold
    assert "Match(similarity=" in repr(same)


def test_threshold_and_far(data):
    a, b = data / "obama.jpg", data / "obama2.jpg"
    default = facecmp.compare(a, b)
    strict = facecmp.compare(a, b, threshold=0.99)
    assert strict.threshold == pytest.approx(0.99) and strict.same is False
    assert strict.similarity == default.similarity
    calibrated = facecmp.compare(a, b, far=1e-3)
    assert 0.2 < calibrated.threshold < 0.6
    with pytest.raises(ValueError):
        facecmp.compare(a, b, threshold=1.5)
    with pytest.raises(ValueError):
        facecmp.compare(a, b, threshold=0.5, far=1e-3)
    with pytest.raises(facecmp.ThresholdError) as caught:
        facecmp.compare(a, b, far=1e-9)
    assert isinstance(caught.value, ValueError)


def test_detect(data):
    faces = facecmp.detect(data / "bald_guys.jpg")
    assert len(faces) >= 20
    assert [face.index for face in faces] == list(range(len(faces)))
    assert all(0.6 <= face.score <= 1.0 for face in faces)
    x, y, width, height = faces[0].box
    assert width > 0 and height > 0 and faces[0].size == min(width, height)
    assert facecmp.detect(data / "no_face.png") == []


def test_embed_returns_unit_float32_vectors(data):
    vector = facecmp.embed(data / "obama.jpg")
    assert isinstance(vector, np.ndarray)
    assert vector.shape == (128,) and vector.dtype == np.float32
    assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-4)
    other = facecmp.embed(data / "obama2.jpg")
    match = facecmp.compare(data / "obama.jpg", data / "obama2.jpg")
    assert float(vector @ other) == pytest.approx(match.similarity, abs=1e-5)
    crowd = facecmp.embed(data / "bald_guys.jpg", all_faces=True)
    assert crowd.dtype == np.float32 and crowd.ndim == 2 and crowd.shape[1] == 128
    assert crowd.shape[0] >= 20
    np.testing.assert_allclose(np.linalg.norm(crowd, axis=1), 1.0, atol=1e-4)
    one = facecmp.embed(data / "obama.jpg", all_faces=True)
    assert one.shape == (1, 128)
    np.testing.assert_allclose(one[0], vector, atol=1e-6)


def test_bytes_and_pathlike_give_the_same_answer(data):
    path = data / "obama.jpg"
    from_path = facecmp.embed(path)
    np.testing.assert_array_equal(facecmp.embed(path.read_bytes()), from_path)
    np.testing.assert_array_equal(facecmp.embed(bytearray(path.read_bytes())), from_path)
    np.testing.assert_array_equal(facecmp.embed(os.fspath(path)), from_path)


def test_numpy_arrays_in_and_out(data, pixels):
    # 32bit.png is obama2.jpg as a lossless PNG: the array decoded here holds
    # exactly the pixels facecmp decodes from the file, so the answers match.
    rgb = pixels("32bit.png")
    assert rgb.shape == (1200, 626, 3) and rgb.dtype == np.uint8
    from_file = facecmp.embed(data / "32bit.png")
    from_array = facecmp.embed(rgb)
    np.testing.assert_array_equal(from_array, from_file)
    assert float(from_array @ facecmp.embed(data / "obama2.jpg")) > 0.95
    [face] = facecmp.detect(rgb)
    [same] = facecmp.detect(data / "32bit.png")
    assert face.box == same.box and face.score == same.score
    match = facecmp.compare(data / "obama.jpg", rgb)
    assert match.same is True and match.b.box == same.box
    # An OpenCV frame is BGR: reversed with frame[:, :, ::-1] (a view with a
    # negative stride, no copy needed) it gives the RGB answer.
    bgr = np.ascontiguousarray(rgb[:, :, ::-1])
    np.testing.assert_array_equal(facecmp.embed(bgr[:, :, ::-1]), from_array)
    # Passed as it is, BGR is a different (wrong) image.
    assert not np.array_equal(facecmp.embed(bgr), from_array)
    # Fortran order, a strided view (every other column) and its copy.
    np.testing.assert_array_equal(facecmp.embed(np.asfortranarray(rgb)), from_array)
    np.testing.assert_array_equal(facecmp.embed(rgb[:, ::2]), facecmp.embed(np.ascontiguousarray(rgb[:, ::2])))
    # Anything with __array__ (a PIL image, …) is read through numpy.asarray.
    class ArrayLike:
        def __array__(self, dtype=None, copy=None):
            return np.asarray(rgb)

    np.testing.assert_array_equal(facecmp.embed(ArrayLike()), from_array)
    # The caller's array is only read.
    assert not rgb.flags.writeable


def test_an_array_without_a_face(pixels):
    with pytest.raises(facecmp.NoFace) as caught:
        facecmp.embed(pixels("no_face.png"))
    assert str(caught.value) == "image (array 300×451×3): no face found"
    assert facecmp.detect(pixels("no_face.png")) == []


@pytest.mark.parametrize(
    "image, words",
    [
        (b"this is not an image", "not an image"),
        (b"", "empty"),
        ("truncated.jpg", "truncated"),
        ("not_an_image.txt", "not an image"),
        ("empty.jpg", "empty"),
    ],
)
def test_bad_images_raise_bad_image_naming_the_input(data, image, words):
    if isinstance(image, str):
        image = data / image
        name = str(image)
    else:
        name = f"image ({len(image)} bytes)"
    with pytest.raises(facecmp.BadImage) as caught:
        facecmp.embed(image)
    message = str(caught.value)
    assert message.startswith(name), message
    assert words in message
    assert isinstance(caught.value, facecmp.Error) and isinstance(caught.value, ValueError)
    assert caught.value.reason == "bad_image"


def test_a_missing_file_is_image_not_found(data):
    missing = data / "nobody-here.jpg"
    with pytest.raises(facecmp.ImageNotFound) as caught:
        facecmp.compare(data / "obama.jpg", missing)
    assert isinstance(caught.value, FileNotFoundError) and isinstance(caught.value, facecmp.BadImage)
    assert str(missing) in str(caught.value)


def test_a_photo_without_a_face(data):
    for call in (lambda p: facecmp.embed(p), lambda p: facecmp.compare(data / "obama.jpg", p)):
        with pytest.raises(facecmp.NoFace) as caught:
            call(data / "no_face.png")
        assert str(caught.value) == f"{data / 'no_face.png'}: no face found"
        assert caught.value.reason == "no_face" and isinstance(caught.value, facecmp.FaceError)


def test_faces_too_small_and_faces_that_are_not_there(data, pixels):
    tiny = np.ascontiguousarray(pixels("32bit.png")[::12, ::12])
    with pytest.raises((facecmp.TooSmall, facecmp.NoFace)) as caught:
        facecmp.embed(tiny)
    assert str(caught.value).startswith("image (array ")
    if facecmp.detect(tiny):
        assert isinstance(caught.value, facecmp.TooSmall), "a face was found: it is too small"
    with pytest.raises(facecmp.NoSuchFace) as caught:
        facecmp.compare(data / "obama.jpg", data / "obama2.jpg", face_b=7)
    assert isinstance(caught.value, IndexError)
    picked = facecmp.compare(data / "bald_guys.jpg", data / "obama.jpg", face_a=3)
    assert picked.a.index == 3


@pytest.mark.parametrize(
    "array, words",
    [
        (np.zeros((64, 64), np.uint8), "H×W×3"),
        (np.zeros((64, 64, 4), np.uint8), "H×W×3"),
        (np.zeros((64, 64, 3), np.float32), "uint8"),
        (np.zeros((0, 64, 3), np.uint8), "no pixels"),
    ],
)
def test_arrays_that_are_not_rgb_images(array, words):
    with pytest.raises(facecmp.BadImage) as caught:
        facecmp.detect(array)
    message = str(caught.value)
    assert words in message and message.startswith("image (array") and "corrupt" not in message
    assert caught.value.reason == "bad_image" and isinstance(caught.value, ValueError)
    with pytest.raises(facecmp.BadImage):
        facecmp.compare(array, "unused.jpg")


def test_other_types_are_a_type_error():
    with pytest.raises(TypeError) as caught:
        facecmp.detect(42)
    assert "path" in str(caught.value) and "int" in str(caught.value)


def test_runtimes(data):
    engine = facecmp.engine()
    assert engine in ("onnxruntime", "tract")
    if os.environ.get("FACECMP_REQUIRE_ORT") == "1":
        assert engine == "onnxruntime"
    assert facecmp.engine("tract") == "tract"
    tract = facecmp.compare(data / "obama.jpg", data / "obama2.jpg", runtime="tract")
    default = facecmp.compare(data / "obama.jpg", data / "obama2.jpg")
    assert tract.same == default.same
    assert tract.similarity == pytest.approx(default.similarity, abs=0.02)
    with pytest.raises(ValueError) as caught:
        facecmp.engine("cuda")
    assert "cuda" in str(caught.value)


def test_version_and_constants():
    assert facecmp.__version__.count(".") == 2
    assert facecmp.LANDMARK_NAMES[0] == "right_eye"
    assert facecmp.DEFAULT_FAR == pytest.approx(1e-3)
    # ONNX Runtime's telemetry is off unless the user decided otherwise.
    assert os.environ.get("ORT_DISABLE_TELEMETRY")
