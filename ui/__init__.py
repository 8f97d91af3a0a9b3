"""The Gradio web chat over `qa`'s public API."""

from ui.app import build_app, serve
from ui.assets import launch_options
from ui.examples import SAMPLE_QUESTIONS, examples_for
from ui.service import ChatService
from ui.uploads import UploadError, UploadPolicy

__all__ = ["SAMPLE_QUESTIONS", "ChatService", "UploadError", "UploadPolicy", "build_app", "examples_for",
           "launch_options", "serve"]
