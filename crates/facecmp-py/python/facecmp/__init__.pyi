"""Type stubs of facecmp: compare faces, with the models inside."""

import os
from datetime import datetime
from typing import Literal, Optional, Sequence, Tuple, Union, overload

import numpy as np
import numpy.typing as npt

from ._errors import (
    AlreadyEnrolled as AlreadyEnrolled,
    BadImage as BadImage,
    CloserToOther as CloserToOther,
    EmbedderMismatch as EmbedderMismatch,
    Error as Error,
    FaceError as FaceError,
    GalleryError as GalleryError,
    GalleryExists as GalleryExists,
    GalleryNotFound as GalleryNotFound,
    GalleryUnavailable as GalleryUnavailable,
    ImageNotFound as ImageNotFound,
    InvalidArgument as InvalidArgument,
    LowScore as LowScore,
    ModelError as ModelError,
    MultipleFaces as MultipleFaces,
    NoFace as NoFace,
    NoSuchFace as NoSuchFace,
    NoSuchPerson as NoSuchPerson,
    NoSuchZone as NoSuchZone,
    ThresholdError as ThresholdError,
    TooSmall as TooSmall,
)

__version__: str

#: The names of the five landmarks of ``Face.landmarks``, in order:
#: ``("right_eye", "left_eye", "nose_tip", "right_mouth_corner", "left_mouth_corner")``
#: (the subject's right eye appears on the image's left).
LANDMARK_NAMES: Tuple[str, str, str, str, str]
#: The false-accept rate the gallery's ``identify`` and ``access`` use by default (1e-3).
DEFAULT_FAR: float

#: A path, the bytes of an encoded image file, or an H×W×3 uint8 RGB array
#: (any strides: ``frame[:, :, ::-1]`` turns an OpenCV BGR frame into RGB).
ImageLike = Union[str, os.PathLike[str], bytes, bytearray, memoryview, npt.NDArray[np.uint8]]
#: ``"auto"``: ONNX Runtime when its library loads, else tract; ``"tract"``; ``"ort"``.
#: ``None`` (the default): ``$FACECMP_RUNTIME``, else ``"auto"``.
Runtime = Optional[Literal["auto", "tract", "ort"]]
#: Seconds since the Unix epoch, or a datetime.
Time = Union[int, datetime]

class Face:
    """A face found in an image."""

    @property
    def index(self) -> int:
        """The face's number in the image, as ``detect`` lists them (strongest first)."""
    @property
    def box(self) -> Tuple[float, float, float, float]:
        """``(x, y, width, height)`` in pixels, from the image's top-left corner."""
    @property
    def score(self) -> float:
        """The detector's confidence, 0 to 1."""
    @property
    def landmarks(self) -> list[Tuple[float, float]]:
        """Five ``(x, y)`` points, in the order of ``LANDMARK_NAMES``."""
    @property
    def size(self) -> float:
        """The shorter side of the box: what the minimum face size is measured on."""

class Match:
    """The outcome of ``compare``."""

    @property
    def similarity(self) -> float:
        """Cosine similarity of the two embeddings, -1 to 1; higher is more alike."""
    @property
    def threshold(self) -> float:
        """The threshold the similarity was held to."""
    @property
    def same(self) -> bool:
        """``similarity >= threshold``: the same person."""
    @property
    def a(self) -> Face:
        """The face of the first image that was compared."""
    @property
    def b(self) -> Face:
        """The face of the second image that was compared."""

def compare(
    a: ImageLike,
    b: ImageLike,
    *,
    threshold: Optional[float] = None,
    far: Optional[float] = None,
    face_a: Optional[int] = None,
    face_b: Optional[int] = None,
    runtime: Runtime = None,
) -> Match:
    """Compares the largest face of ``a`` with the largest face of ``b``.

    The threshold is that of ``facecmp compare``: ``threshold`` if given,
    else the one calibrated for the false-accept rate ``far`` (e.g. ``1e-3``),
    else SFace's published 0.363. ``face_a``/``face_b`` pick another face by
    its ``Face.index``. Raises ``BadImage``, ``ImageNotFound``, ``NoFace``,
    ``TooSmall``, ``NoSuchFace``, ``ThresholdError``.
    """

def detect(image: ImageLike, *, runtime: Runtime = None) -> list[Face]:
    """Every face in the image, strongest first; ``[]`` when there is none."""

def embed(image: ImageLike, all_faces: bool = False, *, runtime: Runtime = None) -> npt.NDArray[np.float32]:
    """The unit embedding of the largest face, shape ``(128,)`` float32; with
    ``all_faces``, one row per face large enough, shape ``(n, 128)``, in
    ``detect``'s order. The cosine similarity of two faces is the dot
    product of their embeddings."""

def engine(runtime: Runtime = None) -> Literal["onnxruntime", "tract"]:
    """The inference engine ``runtime`` resolves to on this machine."""

class Enrolled:
    """A photo enrolled as a reference sample."""

    @property
    def person(self) -> str: ...
    @property
    def person_id(self) -> int: ...
    @property
    def sample(self) -> int:
        """The new sample's id."""
    @property
    def new_person(self) -> bool:
        """Whether this enrolment created the person."""

class Candidate:
    """An enrolled person ranked by ``Gallery.identify``."""

    @property
    def person(self) -> str: ...
    @property
    def external_id(self) -> Optional[str]: ...
    @property
    def similarity(self) -> float:
        """Cosine similarity to the person's closest sample."""
    @property
    def sample(self) -> int:
        """That sample's id."""
    @property
    def matched(self) -> bool:
        """Whether the similarity reaches the threshold."""

class FaceCandidates:
    """The candidates for one face (``identify(..., all_faces=True)``)."""

    @property
    def face(self) -> Face: ...
    @property
    def candidates(self) -> list[Candidate]: ...

class Decision:
    """A recorded access decision."""

    @property
    def allowed(self) -> bool:
        """Whether the door opens: one enrolled person matched, with a grant for the zone valid now."""
    @property
    def reason(
        self,
    ) -> Literal[
        "granted",
        "bad_image",
        "no_face",
        "multiple_faces",
        "low_quality",
        "unknown",
        "not_granted",
        "ambiguous",
        "unknown_zone",
        "internal_error",
    ]:
        """Why, as the stable code ``facecmp access --json`` prints."""
    @property
    def detail(self) -> str:
        """The same in words."""
    @property
    def zone(self) -> str: ...
    @property
    def person(self) -> Optional[str]:
        """The matched person, when the decision is about one."""
    @property
    def similarity(self) -> Optional[float]: ...
    @property
    def threshold(self) -> float: ...
    @property
    def event_id(self) -> int:
        """The id of the event in the audit trail."""

class Event:
    """One entry of the access audit trail."""

    @property
    def id(self) -> int: ...
    @property
    def time(self) -> int:
        """Seconds since the Unix epoch (UTC)."""
    @property
    def zone(self) -> str: ...
    @property
    def decision(self) -> Literal["allow", "deny"]: ...
    @property
    def allowed(self) -> bool: ...
    @property
    def reason(self) -> str:
        """The decision's reason code (see ``Decision.reason``)."""
    @property
    def person(self) -> Optional[str]:
        """Who the decision was about; for a denial, the nearest enrolled face."""
    @property
    def similarity(self) -> Optional[float]: ...
    @property
    def tombstone(self) -> Optional[str]:
        """Set when the person has since been erased."""
    @property
    def source(self) -> Optional[str]: ...
    @property
    def image_sha256(self) -> Optional[str]: ...

class Person:
    """An enrolled person."""

    @property
    def name(self) -> str: ...
    @property
    def external_id(self) -> Optional[str]: ...
    @property
    def samples(self) -> int: ...
    @property
    def zones(self) -> list[str]: ...
    @property
    def created(self) -> int:
        """Seconds since the Unix epoch."""

class Gallery:
    """Enrolled people, zones and the access audit trail: an SQLite file or a
    ``postgres://`` database, shared with the ``facecmp`` command and service."""

    def __init__(
        self,
        location: Union[str, os.PathLike[str]],
        *,
        create: bool = False,
        runtime: Runtime = None,
    ) -> None:
        """Opens the gallery at ``location``; ``create=True`` creates an empty
        one if there is none. Raises ``GalleryNotFound``, ``EmbedderMismatch``."""
    @property
    def location(self) -> str:
        """The path, or the URL without its password."""
    def enrol(
        self,
        name: str,
        image: ImageLike,
        *,
        external_id: Optional[str] = None,
        zones: Sequence[str] = (),
        strict: bool = False,
    ) -> Enrolled:
        """Enrols the one face of ``image`` as a sample of ``name`` and grants
        ``zones``. Raises ``NoFace``, ``MultipleFaces``, ``TooSmall``,
        ``LowScore``, ``BadImage``, ``AlreadyEnrolled``, ``CloserToOther``
        (``strict``)."""
    def enroll(
        self,
        name: str,
        image: ImageLike,
        *,
        external_id: Optional[str] = None,
        zones: Sequence[str] = (),
        strict: bool = False,
    ) -> Enrolled:
        """``enrol``, spelt as ``facecmp enroll``."""
    def remove(self, name: str) -> str:
        """Erases a person; returns the tombstone their past events are kept under."""
    def grant(
        self,
        name: str,
        zone: str,
        *,
        valid_from: Optional[Time] = None,
        valid_until: Optional[Time] = None,
    ) -> None:
        """Allows ``name`` into ``zone`` (created if new), optionally within a window."""
    def revoke(self, name: str, zone: str) -> bool:
        """Withdraws a grant; whether there was one."""
    def people(self) -> list[Person]:
        """The enrolled people."""
    @overload
    def identify(
        self,
        image: ImageLike,
        top: int = 5,
        *,
        zone: Optional[str] = None,
        threshold: Optional[float] = None,
        far: Optional[float] = None,
        all_faces: Literal[False] = False,
    ) -> list[Candidate]: ...
    @overload
    def identify(
        self,
        image: ImageLike,
        top: int = 5,
        *,
        zone: Optional[str] = None,
        threshold: Optional[float] = None,
        far: Optional[float] = None,
        all_faces: Literal[True],
    ) -> list[FaceCandidates]: ...
    def access(
        self,
        zone: str,
        image: ImageLike,
        *,
        threshold: Optional[float] = None,
        far: Optional[float] = None,
    ) -> Decision:
        """Decides whether the person in ``image`` may enter ``zone`` and
        records it. A bad image (unreadable, no face, an array that is not
        H×W×3 ``uint8``, …) is a recorded denial, not an exception."""
    def events(
        self,
        *,
        zone: Optional[str] = None,
        decision: Optional[Literal["allow", "deny"]] = None,
        reason: Optional[str] = None,
        person: Optional[str] = None,
        since: Optional[Time] = None,
        until: Optional[Time] = None,
        limit: int = 50,
    ) -> list[Event]:
        """The audit trail, newest first."""
