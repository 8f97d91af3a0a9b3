"""The Gradio app served for real, asked through gradio_client."""

import socket

import pytest

from ui import build_app


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(sample_kb):
    app = build_app(sample_kb)
    app.queue()
    port = free_port()
    app.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    yield f"http://127.0.0.1:{port}/"
    app.close()


def test_chat_answers_with_quoted_passages_and_citations(server, sample_kb):
    from gradio_client import Client

    client = Client(server, verbose=False)
    history, box = client.predict("Who is the secretary of the club?", [], api_name="/chat")
    assert box == ""
    answer = history[-1]["content"]
    answer = answer if isinstance(answer, str) else " ".join(part.get("text", "") for part in answer)
    assert "<blockquote" in answer and "chars " in answer
    top = sample_kb.search("Who is the secretary of the club?", k=1)[0]
    assert top.source in answer


def test_search_endpoint_returns_verifiable_passages(server, sample_kb):
    from gradio_client import Client

    out = Client(server, verbose=False).predict("varroa treatment threshold", 3, "hybrid", api_name="/search")
    assert len(out["passages"]) == 3
    for p in out["passages"]:
        assert sample_kb.document(p["doc_id"]).text[p["start"]:p["end"]] == p["text"]


def test_document_text_is_escaped(tmp_path, encoder):
    from qa import KnowledgeBase
    from ui.render import passages_html

    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "evil.md").write_text('Zebra <script>alert(1)</script> <img src=x onerror=alert(2)> quartz.')
    kb = KnowledgeBase.build([tmp_path / "d"], index_dir=tmp_path / "i", encoder=encoder, show_progress=False)
    html = passages_html(kb.search("zebra quartz"))
    assert "<script>" not in html and "<img" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
