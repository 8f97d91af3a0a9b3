"""Questions over an index folder: retrieval, grounded answers, evaluation, and the `groundqa` CLI."""

from qa.answers import Answer, Quote
from qa.errors import (
    AnswerModelError, CitationError, DocumentError, EvaluationError, GroundQAError, IndexMismatchError, IndexNotFoundError,
    ModelNotFoundError, QuestionError, UnknownDocumentError,
)
from qa.knowledge_base import DEFAULT_INDEX_DIR, KnowledgeBase, default_index_dir
from qa.passages import Passage
from qa.retrieval import MODES, RetrievalSettings

__all__ = [
    "Answer", "AnswerModelError", "CitationError", "Quote", "DEFAULT_INDEX_DIR", "MODES", "DocumentError", "EvaluationError", "GroundQAError",
    "IndexMismatchError", "IndexNotFoundError", "KnowledgeBase", "ModelNotFoundError", "Passage",
    "QuestionError", "RetrievalSettings", "UnknownDocumentError", "default_index_dir",
]
