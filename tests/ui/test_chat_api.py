"""The Gradio app served for real, asked through gradio_client: /chat, /search, /ask, /upload."""

import shutil
import socket
import threading

import pytest

from ui import build_app, launch_options

pytestmark = pytest.mark.slow

# Questions about the sample corpus with the words their quoted answer must contain.
KNOWN = {
    "How long should Apivar strips stay in the brood nest?": "42 days",
    "By what date should syrup feeding stop?": "October 15",
    "What is the maximum moisture content for extracted honey?": "18.6%",
    "When is the average last spring frost in Millbrook?": "May 10",
    "How far from a property line must a hive stand under Millbrook town ordinance 14-3?": "25 feet",
    "What size holes should the mouse guards have?": "3/8-inch",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(sample_kb, encoder, root, *, read_only: bool):
    """A server over a private copy of the sample index in `root` (nothing here touches `sample_kb`)."""
    from qa import KnowledgeBase

    shutil.copytree(sample_kb.index_dir, root / "index")
    kb = KnowledgeBase.open(root / "index", encoder=encoder)
    app = build_app(kb, upload_dir=root / "uploads", concurrency=4, read_only=read_only)
    app.queue()
    port = free_port()
    app.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, **launch_options())
    return app, f"http://127.0.0.1:{port}/"


@pytest.fixture(scope="module")
def served(sample_kb, encoder, tmp_path_factory):
    """One read-only server for the tests that only ask: none of them can change what the next one sees."""
    app, url = start_server(sample_kb, encoder, tmp_path_factory.mktemp("chat-api"), read_only=True)
    yield app, url
    app.close()


@pytest.fixture
def writable(sample_kb, encoder, tmp_path):
    """A server of its own, with uploads, for one test: what it adds is gone with it."""
    app, url = start_server(sample_kb, encoder, tmp_path / "server", read_only=False)
    yield app, url, tmp_path / "server"
    app.close()


@pytest.fixture(scope="module")
def client(served):
    from gradio_client import Client

    return Client(served[1], verbose=False)


def message_text(message) -> str:
    content = message["content"]
    return content if isinstance(content, str) else " ".join(part.get("text", "") for part in content)


def test_chat_answers_with_a_quote_and_its_citation(client, sample_kb):
    question = "How long should Apivar strips stay in the brood nest?"
    history, box = client.predict(question, [], api_name="/chat")
    assert box == ""
    assert [m["role"] for m in history] == ["user", "assistant"]
    answer = message_text(history[-1])
    assert "<blockquote" in answer and "42 days" in answer and "chars " in answer and "verified" in answer
    top = sample_kb.ask(question).quotes[0]
    assert top.source in answer and f"chars {top.start}–{top.end}" in answer
    # The history goes back in; the next turn is appended, with the settings as optional inputs.
    history, _ = client.predict("How do I replace the brake pads on a 2015 Honda Civic?", history, 8, "hybrid",
                                True, 0.5, api_name="/chat")
    assert len(history) == 4 and "do not answer this" in message_text(history[-1])
    assert "closest passages (not an answer)" in message_text(history[-1])


def test_chat_refuses_bad_settings_and_ignores_an_empty_question(client):
    with pytest.raises(Exception, match="not in the list of choices"):
        client.predict("anything", [], 8, "nonsense", api_name="/chat")
    history, box = client.predict("   ", [], api_name="/chat")
    assert history == [] and box == ""


def test_search_endpoint_returns_verifiable_passages(client, sample_kb):
    out = client.predict("varroa treatment threshold", 3, "hybrid", api_name="/search")
    assert len(out["passages"]) == 3
    for p in out["passages"]:
        assert sample_kb.document(p["doc_id"]).text[p["start"]:p["end"]] == p["text"]


def test_ask_endpoint_returns_the_answer_as_json(client, sample_kb):
    question = "What is the maximum moisture content for extracted honey?"
    out = client.predict(question, api_name="/ask")
    assert out["question"] == question and out["abstained"] is False
    assert set(out) >= {"confidence", "quotes", "passages", "provenance"}
    quote = out["quotes"][0]
    assert "18.6%" in quote["text"] and quote["verified"] is True
    assert sample_kb.document(quote["doc_id"]).text[quote["start"]:quote["end"]] == quote["text"]
    strict = client.predict(question, 8, "lexical", 1.0, api_name="/ask")
    assert strict["abstained"] is True and strict["provenance"]["threshold"] == 1.0
    assert "error" in client.predict("", api_name="/ask")


def test_upload_then_ask_about_the_new_document(writable, tmp_path):
    from gradio_client import Client, handle_file

    _, url, root = writable
    client = Client(url, verbose=False)
    new = tmp_path / "zebra quartz <notes>.md"
    new.write_text("# Zebra quartz notes\n\nThe Tallow Creek zebra quartz mine opened in 1911 after a dry summer.\n"
                   "Its quartz shows black and white bands.\n")
    junk = tmp_path / "tool.exe"
    junk.write_bytes(b"MZ")
    out = client.predict([handle_file(str(new)), handle_file(str(junk))], api_name="/upload")
    assert out["ok"] is True, out
    assert out["added"] == ["uploads/zebra_quartz_notes.md"]
    assert any("tool.exe" in n and "unsupported" in n for n in out["notes"])
    listed = {d["doc_id"]: d for d in out["documents"]}["uploads/zebra_quartz_notes.md"]
    assert listed["title"] == "Zebra quartz notes" and listed["chunks"] >= 1
    assert (root / "uploads" / "zebra_quartz_notes.md").is_file()

    answer = client.predict("When did the Tallow Creek zebra quartz mine open?", api_name="/ask")
    assert answer["abstained"] is False
    assert answer["quotes"][0]["doc_id"] == "uploads/zebra_quartz_notes.md" and "1911" in answer["quotes"][0]["text"]
    # The same file again changes nothing.
    again = client.predict([handle_file(str(new))], api_name="/upload")
    assert again["added"] == [] and "already indexed" in again["status"]


def test_the_shared_server_still_serves_the_sample_index_alone(client, sample_kb):
    """Run after the upload test: the document uploaded there is not on the server the other tests share."""
    out = client.predict("When did the Tallow Creek zebra quartz mine open?", 10, "lexical", api_name="/search")
    assert out["passages"] and {p["doc_id"] for p in out["passages"]} <= {d.doc_id for d in sample_kb.documents}


def test_concurrent_questions_each_get_their_own_answer(served):
    from gradio_client import Client

    url = served[1]
    results, errors = {}, []

    def ask(question: str, via_chat: bool):
        try:
            client = Client(url, verbose=False)
            if via_chat:
                history, _ = client.predict(question, [], api_name="/chat")
                results[question] = message_text(history[0]), message_text(history[-1])
            else:
                out = client.predict(question, api_name="/ask")
                results[question] = out["question"], out["quotes"][0]["text"]
        except Exception as exc:  # collected: an assertion in a thread would be lost
            errors.append(exc)

    threads = [threading.Thread(target=ask, args=(q, i % 2 == 0)) for i, q in enumerate(KNOWN)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=180)
    assert not errors, errors
    for question, expected in KNOWN.items():
        asked, quoted = results[question]
        assert question in asked.replace("&#x27;", "'")
        assert expected in quoted


def test_the_page_holds_no_heartbeat_connection(served):
    """A gr.State would keep a heartbeat request open forever, so the page would never go network-idle."""
    app = served[0]
    assert app.get_config_file()["connect_heartbeat"] is False


def test_serve_binds_loopback_without_share_by_default(sample_kb, tmp_path):
    from ui import serve

    app = serve(sample_kb, port=free_port(), block=False, upload_dir=tmp_path / "up", read_only=True)
    try:
        assert app.server_name == "127.0.0.1" and not app.share
        assert "/upload" not in app.get_api_info()["named_endpoints"]
    finally:
        app.close()
