"""facecmp: compare faces, with the models inside.

>>> import facecmp
>>> match = facecmp.compare("obama.jpg", "obama2.jpg")
>>> match.same, round(match.similarity, 2)
(True, 0.73)

An image is a path (``str`` or ``os.PathLike``), the bytes of an encoded
file (JPEG, PNG, WebP, BMP, TIFF, GIF), or an H×W×3 ``uint8`` numpy array of
RGB pixels (OpenCV frames are BGR: pass ``frame[:, :, ::-1]``).

ONNX Runtime runs the networks when its library is found (as for the
``facecmp`` command: ``$FACECMP_ORT_LIB``, else
``~/.local/share/facecmp/onnxruntime/``); otherwise the built-in tract does.
``FACECMP_RUNTIME`` or ``runtime=`` picks one: ``"auto"``, ``"tract"``, ``"ort"``.
See docs/python.md.
"""

import os as _os

from . import _facecmp

# ONNX Runtime collects telemetry unless this is set before it is loaded
# (it is loaded at the first call, not at import). Like the facecmp command,
# opt out, unless the user has set the variable themselves.
_os.environ.setdefault(_facecmp.TELEMETRY_OPT_OUT_ENV, "1")

from ._errors import *  # noqa: E402,F403
from ._errors import __all__ as _error_names  # noqa: E402
from ._facecmp import (  # noqa: E402
    DEFAULT_FAR,
    LANDMARK_NAMES,
    Candidate,
    Decision,
    Enrolled,
    Event,
    Face,
    FaceCandidates,
    Gallery,
    Match,
    Person,
    __version__,
    compare,
    detect,
    embed,
    engine,
)

__all__ = [
    "compare",
    "detect",
    "embed",
    "engine",
    "Gallery",
    "Face",
    "Match",
    "Enrolled",
    "Candidate",
    "FaceCandidates",
    "Decision",
    "Event",
    "Person",
    "LANDMARK_NAMES",
    "DEFAULT_FAR",
    "__version__",
    *_error_names,
]
