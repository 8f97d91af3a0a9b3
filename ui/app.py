"""The web chat: layout and wiring of a Gradio Blocks app over `ui.service.ChatService`.

Uses only qa's public API. No `gr.State` on purpose: any State makes Gradio hold a heartbeat
connection open for the page's lifetime, so the page never reaches "network idle". Per-visitor
values live in (hidden) components instead; shared ones in the service.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import gradio as gr

from qa import MODES, GroundQAError, KnowledgeBase
from ui.assets import launch_options
from ui.examples import examples_for
from ui.render import documents_html, status_html
from ui.service import ChatService
from ui.source import EMPTY
from ui.uploads import UPLOAD_SUFFIXES, UploadPolicy

INTRO = "## groundqa\nAsk about the indexed documents. Every answer is quoted from them, with a checkable citation."
SCROLL_TO_HIGHLIGHT = "() => { window.gqShowHighlight && window.gqShowHighlight(); }"
SCROLL_TO_LATEST = "() => { window.gqShowLatest && window.gqShowLatest(); }"
FROM_LINK = "(value, ...rest) => [window.gqTarget || value, ...rest]"


def build_app(kb: KnowledgeBase, *, examples: Sequence[str] | None = None, max_file_mb: float = 50,
              upload_dir: str | Path | None = None, concurrency: int = 4, read_only: bool = False,
              default_threshold: float | None = None) -> gr.Blocks:
    """The chat page over `kb`.

    examples: questions offered as chips (default: known ones for the bundled sample corpus).
    max_file_mb: size limit per uploaded file (and per file inside a .zip).
    upload_dir: where uploads are copied (default `<index>-uploads` beside the index folder).
    concurrency: questions answered at once; uploads run one at a time beside them.
    read_only: hide uploading and removing documents (and the `/upload` endpoint).
    default_threshold: the slider's starting value (default: the calibrated threshold, which is
        used until the visitor unticks "calibrated").
    """
    if default_threshold is None:
        default_threshold = kb.default_threshold
    service = ChatService(kb, upload_dir=upload_dir, policy=UploadPolicy(max_file_mb=max_file_mb))
    examples = examples_for(kb) if examples is None else list(examples)
    ask = {"concurrency_id": "ask", "concurrency_limit": concurrency}
    write = {"concurrency_id": "write", "concurrency_limit": 1}

    with gr.Blocks(title="groundqa", analytics_enabled=False) as app:
        gr.Markdown(INTRO)
        with gr.Row(elem_id="gq-main", equal_height=False):
            with gr.Column(scale=3, min_width=320, elem_id="gq-chat-col"):
                chat = gr.Chatbot(label="Answers", show_label=False, height=560, latex_delimiters=[],
                                  sanitize_html=True, feedback_options=None, buttons=[], autoscroll=False,
                                  elem_id="gq-chat",
                                  placeholder="Answers appear here, quoted from the documents.")
                box = gr.Textbox(placeholder="Ask a question and press Enter", show_label=False, lines=1,
                                 max_lines=4, autofocus=True, elem_id="gq-question", submit_btn="Ask")
                chips = _example_chips(examples)
                with gr.Accordion("Settings", open=False, elem_id="gq-settings"):
                    k = gr.Slider(1, 20, value=8, step=1, label="passages to read (k)")
                    mode = gr.Radio(list(MODES), value="hybrid", label="retrieval mode")
                    calibrated = gr.Checkbox(value=True, label="use the calibrated abstention threshold")
                    threshold = gr.Slider(0, 1, value=default_threshold, step=0.005, interactive=False,
                                          label="abstention threshold (answers below this confidence are withheld)")
            with gr.Column(scale=2, min_width=300, elem_id="gq-source-col"):
                gr.Markdown("### Source")
                whole = gr.Checkbox(value=False, label="show whole document", elem_id="gq-whole")
                panel = gr.HTML(EMPTY, elem_id="gq-source")
        documents = _documents_section(service, read_only)
        # Hidden plumbing, last on the page (the question box stays the page's first text field).
        target = gr.Textbox(visible="hidden", elem_id="gq-target")
        open_btn = gr.Button("open", visible="hidden", elem_id="gq-open")
        json_id = gr.Textbox(visible="hidden", elem_id="gq-json-id")
        json_out = gr.Textbox(visible="hidden", elem_id="gq-json-out")
        json_btn = gr.Button("json", visible="hidden", elem_id="gq-json")

        settings = [k, mode, calibrated, threshold]
        box.submit(service.respond, [box, chat, *settings], [chat, box], api_name="chat", **ask
                   ).then(None, js=SCROLL_TO_LATEST)
        for button, question in chips:
            button.click(lambda *args, q=question: service.respond(q, *args), [chat, *settings], [chat, box],
                         api_visibility="private", **ask).then(None, js=SCROLL_TO_LATEST)
        calibrated.change(lambda on: gr.update(interactive=not on), calibrated, threshold,
                          queue=False, api_visibility="private")

        def show(link: str, whole_doc: bool) -> tuple[str, str]:
            return service.source(link, whole_doc), link

        open_btn.click(show, [target, whole], [panel, target], js=FROM_LINK, api_visibility="private",
                       concurrency_limit=None).then(None, js=SCROLL_TO_HIGHLIGHT)
        whole.change(service.source, [target, whole], [panel], api_visibility="private",
                     concurrency_limit=None).then(None, js=SCROLL_TO_HIGHLIGHT)
        json_btn.click(service.answer_json, [json_id], [json_out], js=FROM_LINK, api_visibility="private",
                       concurrency_limit=None).then(None, [json_out], None, js="(text) => { window.gqDownload(text); }")
        if documents is not None:
            _wire_documents(app, service, documents, write)
        gr.api(_search_endpoint(service), api_name="search", **ask)
        gr.api(_ask_endpoint(service), api_name="ask", **ask)
    return app


def _example_chips(examples: Sequence[str]) -> list[tuple[gr.Button, str]]:
    if not examples:
        return []
    with gr.Row(elem_id="gq-examples"):
        return [(gr.Button(q, size="sm", variant="secondary", min_width=0), q) for q in examples]


def _documents_section(service: ChatService, read_only: bool) -> dict | None:
    """The document list, and unless read-only the upload and remove controls; their components by name."""
    docs = service.documents()
    with gr.Accordion(f"Documents ({len(docs)})", open=False, elem_id="gq-documents") as accordion:
        table = gr.HTML(documents_html(docs), elem_id="gq-doclist")
        if read_only:
            return None
        with gr.Row(equal_height=False):
            with gr.Column(min_width=280):
                files = gr.File(file_count="multiple", file_types=list(UPLOAD_SUFFIXES), elem_id="gq-upload",
                                label=f"add files: {' '.join(UPLOAD_SUFFIXES)} "
                                      f"(up to {service.policy.max_file_mb:g} MB each)")
                add = gr.Button("Add to index", variant="primary", elem_id="gq-add")
            with gr.Column(min_width=280):
                remove_pick = gr.Dropdown(_choices(docs), multiselect=True, label="remove documents",
                                          elem_id="gq-remove-pick")
                remove = gr.Button("Remove selected", variant="stop", elem_id="gq-remove")
        status = gr.HTML("", elem_id="gq-upload-status")
    # The `/upload` endpoint: hidden components, so the API returns one JSON dict.
    api_files = gr.File(file_count="multiple", visible="hidden")
    api_out = gr.JSON(visible="hidden")
    api_btn = gr.Button("upload", visible="hidden")
    return {"accordion": accordion, "table": table, "files": files, "add": add, "pick": remove_pick,
            "remove": remove, "status": status, "api_files": api_files, "api_out": api_out, "api_btn": api_btn}


def _choices(docs: list[dict]) -> list[tuple[str, str]]:
    return [(f"{d['title']} — {d['doc_id']}", d["doc_id"]) for d in docs]


def _wire_documents(app: gr.Blocks, service: ChatService, c: dict, write: dict) -> None:
    def refreshed(result=None) -> tuple:
        docs = service.documents()
        status = status_html(result.ok, result.status, result.notes) if result is not None else gr.update()
        return (status, documents_html(docs), gr.update(choices=_choices(docs), value=[]),
                gr.update(label=f"Documents ({len(docs)})"))

    outputs = [c["status"], c["table"], c["pick"], c["accordion"]]

    def add(files, progress=gr.Progress()):
        result = service.upload(files, lambda fraction, desc: progress(fraction, desc=desc))
        return (*refreshed(result), None)

    def upload(files: list) -> dict:
        return service.upload(files).to_dict(service.documents())

    c["add"].click(add, [c["files"]], [*outputs, c["files"]], api_visibility="private", **write)
    c["remove"].click(lambda ids: refreshed(service.remove(ids)), [c["pick"]], outputs,
                      api_visibility="private", **write)
    c["api_btn"].click(upload, [c["api_files"]], [c["api_out"]], api_name="upload", **write)
    # Another visitor may have changed the documents since the page was built.
    app.load(lambda: refreshed()[1:], None, outputs[1:], api_visibility="private", queue=False)


def _search_endpoint(service: ChatService):
    def search(question: str, k: int = 5, mode: str = "hybrid") -> dict:
        """Passages for a question, as JSON: {"question", "passages": [...]} (or {"error"})."""
        try:
            return service.search_dict(question, k, mode)
        except GroundQAError as exc:
            return {"question": question, "error": str(exc)}
    return search


def _ask_endpoint(service: ChatService):
    def ask(question: str, k: int = 8, mode: str = "hybrid", threshold: float | None = None) -> dict:
        """A grounded answer as JSON: `Answer.to_dict()`, each quote with `verified` (or {"error"})."""
        try:
            return service.ask_dict(question, k, mode, threshold)
        except GroundQAError as exc:
            return {"question": question, "error": str(exc)}
    return ask


def serve(kb: KnowledgeBase, *, host: str = "127.0.0.1", port: int = 7860, share: bool = False,
          block: bool = True, max_file_mb: float = 50, upload_dir: str | Path | None = None,
          examples: Sequence[str] | None = None, concurrency: int = 4, read_only: bool = False) -> gr.Blocks:
    """Start the chat on http://host:port (this machine only by default); prints the address."""
    app = build_app(kb, examples=examples, max_file_mb=max_file_mb, upload_dir=upload_dir,
                    concurrency=concurrency, read_only=read_only)
    app.queue(default_concurrency_limit=concurrency)
    print(f"groundqa chat on http://{host}:{port}  (Ctrl-C stops it)", flush=True)
    app.launch(server_name=host, server_port=port, share=share, prevent_thread_lock=not block, quiet=True,
               max_file_size=UploadPolicy(max_file_mb=max_file_mb).max_file_bytes, **launch_options())
    return app
