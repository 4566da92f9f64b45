"""The exceptions facecmp raises.

Every one derives from :class:`facecmp.Error`; each also derives from the
built-in exception that fits it (``ValueError`` for a bad input,
``FileNotFoundError`` for a missing file, ``LookupError`` for an unknown
name, ``RuntimeError`` for a failure of facecmp itself), so code that
already catches those keeps working. ``reason`` is the machine-readable code
the CLI prints for the same fault (``facecmp enroll --json``). The message
names the input: the path, or ``a (2048 bytes)`` / ``image (array 480×640×3)``
for data passed in memory.
"""

from __future__ import annotations

__all__ = [
    "Error",
    "BadImage",
    "ImageNotFound",
    "FaceError",
    "NoFace",
    "MultipleFaces",
    "TooSmall",
    "LowScore",
    "NoSuchFace",
    "AlreadyEnrolled",
    "CloserToOther",
    "ThresholdError",
    "ModelError",
    "GalleryError",
    "GalleryNotFound",
    "GalleryExists",
    "GalleryUnavailable",
    "EmbedderMismatch",
    "NoSuchPerson",
    "NoSuchZone",
    "InvalidArgument",
]


class Error(Exception):
    """Base class of every facecmp error."""

    reason: str = "error"


class BadImage(Error, ValueError):
    """The image cannot be read or decoded (corrupt, truncated, not an image,
    too large), or an array is not H×W×3 ``uint8``."""

    reason = "bad_image"


class ImageNotFound(BadImage, FileNotFoundError):
    """The image file does not exist."""


class FaceError(Error, ValueError):
    """The image has no face that can be used."""


class NoFace(FaceError):
    """No face was found in the image."""

    reason = "no_face"


class MultipleFaces(FaceError):
    """Several faces where exactly one must be in view (enrolment)."""

    reason = "multiple_faces"


class TooSmall(FaceError):
    """The face is smaller than the minimum size (32 px; 64 px to enrol)."""

    reason = "too_small"


class LowScore(FaceError):
    """The detector is not confident enough that this is a face."""

    reason = "low_score"


class NoSuchFace(FaceError, IndexError):
    """``face_a``/``face_b`` names a face the image does not have."""

    reason = "no_such_face"


class AlreadyEnrolled(Error):
    """This exact image is already one of the person's samples."""

    reason = "already_enrolled"


class CloserToOther(Error):
    """``strict=True``: the face looks more like another enrolled person."""

    reason = "closer_to_other"


class ThresholdError(Error, ValueError):
    """No threshold can be promised for the false-accept rate asked for."""

    reason = "threshold"


class ModelError(Error, RuntimeError):
    """facecmp itself failed: a model or the inference engine (never the
    input's fault)."""

    reason = "internal_error"


class GalleryError(Error):
    """The gallery failed or refused a request."""

    reason = "gallery"


class GalleryNotFound(GalleryError, FileNotFoundError):
    """There is no gallery at this location (pass ``create=True``)."""

    reason = "gallery_not_found"


class GalleryExists(GalleryError):
    """A gallery already exists there; it is not overwritten."""

    reason = "gallery_exists"


class GalleryUnavailable(GalleryError, ConnectionError):
    """The database cannot be reached now; a later call tries again."""

    reason = "gallery_unavailable"


class EmbedderMismatch(GalleryError):
    """The gallery holds embeddings of another model."""

    reason = "embedder_mismatch"


class NoSuchPerson(GalleryError, LookupError):
    """Nobody of that name is enrolled."""

    reason = "no_such_person"


class NoSuchZone(GalleryError, LookupError):
    """There is no zone of that name."""

    reason = "no_such_zone"


class InvalidArgument(GalleryError, ValueError):
    """A name, window or value the gallery refuses (empty, too long, control characters, …)."""

    reason = "invalid"
