"""Every typed error groundqa raises, in one place for library users; the CLI and UI print them as one line."""

from corpus.errors import DocumentError, GroundQAError
from embeddings.errors import IndexMismatchError, IndexNotFoundError, ModelNotFoundError


class QuestionError(GroundQAError):
    """A question that cannot be asked: empty, or with settings out of range."""


class UnknownDocumentError(GroundQAError, KeyError):
    """A doc_id that is not in the index."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class AnswerModelError(GroundQAError):
    """The answer model file does not fit the features this version computes."""


class CitationError(GroundQAError):
    """A quote that is not, character for character, the text at its place in the document."""


class EvaluationError(GroundQAError):
    """A data set or question file that `groundqa eval` cannot read."""


__all__ = [
    "AnswerModelError", "CitationError", "DocumentError", "EvaluationError", "GroundQAError", "IndexMismatchError", "IndexNotFoundError",
    "ModelNotFoundError", "QuestionError", "UnknownDocumentError",
]
