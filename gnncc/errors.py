"""The errors gnncc raises: each names the tensor, shape or op at fault and what to do."""

from __future__ import annotations


class GnnccError(Exception):
    """Base class of every error gnncc raises on purpose."""


class GraphError(GnnccError, ValueError):
    """The graph handed to gnncc is malformed (dtype, shape, index range, ...)."""


class InputError(GnnccError, ValueError):
    """Features passed to a compiled model do not match what it was compiled for."""


class UnsupportedError(GnnccError, NotImplementedError):
    """The model uses a layer, op or option that gnncc cannot compile yet."""


class IRError(GnnccError):
    """The IR is ill-formed: a type error, a dangling value, an unknown op."""


class CodegenError(GnnccError):
    """A kernel could not be generated or built for the requested target."""


class TargetError(GnnccError, ValueError):
    """The requested target is unknown or not available on this machine."""


class LibraryError(GnnccError):
    """A library cannot be loaded: not a gnncc library, truncated, corrupt, or built for another
    format version, TVM version or machine."""
