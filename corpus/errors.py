"""Typed errors shared by every stage; `qa.errors` re-exports them for library users."""


class GroundQAError(Exception):
    """Base of every error groundqa raises on purpose; its message is one line meant for a person."""


class DocumentError(GroundQAError):
    """A path or file that cannot be turned into documents (missing, unreadable, unsupported)."""
