"""The Gradio web chat over `qa`'s public API."""

from ui.app import build_app, serve

__all__ = ["build_app", "serve"]
