"""The interfaces over `qa`'s public API: the Gradio web chat and the `groundqa` command line.

Names are imported on first use, so that `groundqa` commands that need no web page never load Gradio.
"""

from importlib import import_module

_EXPORTS = {
    "build_app": "ui.app", "serve": "ui.app", "launch_options": "ui.assets", "SAMPLE_QUESTIONS": "ui.examples",
    "examples_for": "ui.examples", "ChatService": "ui.service", "UploadError": "ui.uploads",
    "UploadPolicy": "ui.uploads",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'ui' has no attribute {name!r}")
    return getattr(import_module(_EXPORTS[name]), name)
