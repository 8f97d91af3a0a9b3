"""Errors of the embedding stage: a model that cannot be loaded, an index folder that cannot be used."""

from corpus.errors import GroundQAError


class ModelNotFoundError(GroundQAError):
    """The embedding model is not installed, or a given model path holds no model."""


class IndexError_(GroundQAError):
    """Base for index-folder problems (named with a trailing underscore to leave the builtin alone)."""


class IndexNotFoundError(IndexError_):
    """No index at the path: nothing has been indexed there yet."""


class IndexMismatchError(IndexError_):
    """The index was written by another format version or model than the one running now."""


class IndexBusyError(IndexError_):
    """Another process is writing the index, and the caller chose not to wait."""


class IndexDamagedError(IndexError_):
    """A file of the index is missing, truncated, edited or unreadable: it must be rebuilt."""


class StoreError(GroundQAError):
    """The external vector store (Milvus) is unreachable, refuses a call, or is not installed."""


class IndexTypeError(GroundQAError):
    """A dense-search index type that groundqa does not know, or one the index is too small for."""
