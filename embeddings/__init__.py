"""Chunk texts to vectors and BM25, and the index folder that keeps them on disk."""

from embeddings.encoder import DEFAULT_MODEL, MODEL_PACKAGE, Encoder, model_name, resolve_model_path
from embeddings.errors import IndexMismatchError, IndexNotFoundError, ModelNotFoundError
from embeddings.index_folder import (
    FORMAT_VERSION, atomic_folder, new_manifest, read_manifest, read_store,
    write_manifest, write_store,
)
from embeddings.lexical_index import LexicalIndex
from embeddings.term_prior import PRIOR_CHUNKS, TermPrior
from embeddings.windows import WINDOW_TOKENS, window_vectors

__all__ = [
    "DEFAULT_MODEL", "FORMAT_VERSION", "MODEL_PACKAGE", "WINDOW_TOKENS", "Encoder",
    "IndexMismatchError", "IndexNotFoundError", "LexicalIndex", "ModelNotFoundError", "PRIOR_CHUNKS", "TermPrior",
    "atomic_folder", "model_name", "new_manifest", "read_manifest", "read_store",
    "resolve_model_path", "window_vectors", "write_manifest", "write_store",
]
