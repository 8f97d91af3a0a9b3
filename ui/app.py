"""The web chat: a Gradio Blocks app over a `qa.KnowledgeBase`, using only qa's public API."""

from __future__ import annotations

from html import escape

import gradio as gr

from qa import GroundQAError, KnowledgeBase
from ui.render import passages_html

CSS = """
.gq-quote { border-left: 4px solid var(--color-accent); margin: 0.4em 0; padding: 0.2em 0.8em;
            font-style: italic; }
.gq-cite { font-size: 0.9em; opacity: 0.85; }
.gq-heading { font-weight: 600; }
"""


def _theme() -> gr.themes.Base:
    # System fonts only: the default theme fetches web fonts, which an offline machine cannot.
    return gr.themes.Soft(font=["ui-sans-serif", "system-ui", "sans-serif"],
                          font_mono=["ui-monospace", "SFMono-Regular", "monospace"])


def build_app(kb: KnowledgeBase, *, k: int = 3) -> gr.Blocks:
    """The chat page; each answer shows the top `k` passages as quotes with citations."""

    def respond(message: str, history: list) -> tuple[list, str]:
        history = list(history or [])
        if not (message or "").strip():
            return history, ""
        history.append({"role": "user", "content": message})
        try:
            html = passages_html(kb.search(message, k=k))
        except GroundQAError as exc:
            html = _error_html(exc)
        history.append({"role": "assistant", "content": html})
        return history, ""

    def search(question: str, k: int = 5, mode: str = "hybrid") -> dict:
        """Passages for a question, as JSON: {"question", "passages": [...]}."""
        passages = kb.search(question, k=int(k), mode=mode)
        return {"question": question, "passages": [p.to_dict() for p in passages]}

    with gr.Blocks(title="groundqa", analytics_enabled=False) as app:
        gr.Markdown("## groundqa\nAsk about the indexed documents. Answers are quoted from them, with citations.")
        chat = gr.Chatbot(label="Answers", height=520, latex_delimiters=[], sanitize_html=True,
                          feedback_options=None, elem_id="gq-chat")
        box = gr.Textbox(placeholder="Ask a question and press Enter", show_label=False, lines=1,
                         max_lines=4, autofocus=True, elem_id="gq-question")
        box.submit(respond, [box, chat], [chat, box], api_name="chat")
        gr.api(search, api_name="search")
    return app


def _error_html(exc: Exception) -> str:
    return f'<p class="gq-error">{escape(str(exc))}</p>'


def serve(kb: KnowledgeBase, *, host: str = "127.0.0.1", port: int = 7860, share: bool = False,
          block: bool = True):
    """Start the chat on http://host:port (this machine only by default); prints the address."""
    app = build_app(kb)
    app.queue(default_concurrency_limit=4)
    print(f"groundqa chat on http://{host}:{port}  (Ctrl-C stops it)", flush=True)
    app.launch(server_name=host, server_port=port, share=share, prevent_thread_lock=not block,
               quiet=True, theme=_theme(), css=CSS, footer_links=["api"])
    return app
