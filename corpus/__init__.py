"""Files to documents to chunks: loading, cleaning and sentence-aware chunking with offsets."""

from corpus.chunking import Chunk, ChunkingSettings, chunk_document, estimate_tokens
from corpus.documents import Document, Page, SourceFile, find_files, load_documents, read_file, text_sha256
from corpus.errors import DocumentError, GroundQAError
from corpus.sentences import dateline_reading, enumeration_reading, scoring_text, split_sentences, table_header

__all__ = [
    "Chunk", "ChunkingSettings", "Document", "DocumentError", "GroundQAError", "Page", "SourceFile", "find_files", "read_file",
    "chunk_document", "dateline_reading", "enumeration_reading", "estimate_tokens", "load_documents",
    "scoring_text", "split_sentences", "table_header", "text_sha256",
]
