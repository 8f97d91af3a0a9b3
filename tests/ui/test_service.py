"""ChatService without a server: questions never wait for uploads, swaps are atomic, removal is careful."""

import json
import shutil

import pytest

from ui.service import ChatService

pytestmark = pytest.mark.slow


@pytest.fixture
def service(sample_kb, encoder, tmp_path):
    """A service over a private copy of the sample index."""
    from qa import KnowledgeBase

    shutil.copytree(sample_kb.index_dir, tmp_path / "index")
    kb = KnowledgeBase.open(tmp_path / "index", encoder=encoder)
    return ChatService(kb, upload_dir=tmp_path / "uploads")


def test_questions_do_not_wait_for_an_upload_in_progress(service):
    with service.holder.lock:  # what an upload holds while it embeds
        history, box = service.respond("How long should Apivar strips stay in the brood nest?", [])
    assert "42 days" in history[-1]["content"] and box == ""


def test_upload_swaps_in_a_new_index_and_the_old_one_keeps_answering(service, tmp_path):
    old = service.kb
    note = tmp_path / "comet.md"
    note.write_text("# Comet log\n\nThe comet Vellar-2 was last seen on 9 June 1994 from Orrin Hill.\n")
    result = service.upload([note])
    assert result.ok and result.added == ["uploads/comet.md"]
    assert service.kb is not old and "uploads/comet.md" in {d["doc_id"] for d in service.documents()}
    assert "uploads/comet.md" not in {d.doc_id for d in old.documents}
    assert not old.ask("How long should Apivar strips stay in the brood nest?").abstained  # still usable
    answer = service.ask_dict("When was the comet Vellar-2 last seen?")
    assert answer["quotes"][0]["doc_id"] == "uploads/comet.md" and answer["quotes"][0]["verified"]


def test_a_refused_upload_leaves_the_index_as_it_was(service, tmp_path):
    before = service.kb
    big = tmp_path / "big.txt"
    big.write_bytes(b"word " * 300_000)
    service.policy = type(service.policy)(max_file_mb=1)
    result = service.upload([big])
    assert not result.ok and "over the 1 MB limit" in result.status
    assert service.kb is before
    assert not service.upload([]).ok


def test_remove_drops_the_document_and_only_its_uploaded_copy(service, tmp_path):
    note = tmp_path / "comet.md"
    note.write_text("# Comet log\n\nThe comet Vellar-2 was last seen on 9 June 1994.\n")
    service.upload([note])
    assert (service.upload_dir / "comet.md").is_file()
    sample = service.kb.documents[0]
    result = service.remove(["uploads/comet.md", sample.doc_id])
    assert result.ok and "removed 2 documents" in result.status
    assert not (service.upload_dir / "comet.md").exists()
    ids = {d["doc_id"] for d in service.documents()}
    assert "uploads/comet.md" not in ids and sample.doc_id not in ids
    bad = service.remove(["no-such.md"])
    assert not bad.ok and "no-such.md" in bad.status and "\n" not in bad.status


def test_source_panel_handles_removed_documents_and_bad_links(service):
    doc = service.kb.documents[0]
    html = service.source(f"{doc.doc_id}:0:10:{doc.sha256[:12]}")
    assert "<mark" in html
    service.remove([doc.doc_id])
    assert "no longer in the index" in service.source(f"{doc.doc_id}:0:10:")
    assert "malformed" in service.source("garbage")
    assert "past the end" in service.source(f"{service.kb.documents[0].doc_id}:0:99999999:")


def test_answer_json_is_kept_for_download(service):
    history, _ = service.respond("By what date should syrup feeding stop?", [])
    answer_id = history[-1]["content"].split("#gq-json=")[1].split('"')[0]
    data = json.loads(service.answer_json(answer_id))
    assert data["question"] == "By what date should syrup feeding stop?" and data["quotes"][0]["verified"]
    assert service.answer_json("unknown") == ""


def test_a_running_chat_sees_an_index_another_process_commits(tmp_path, fake_encoder):
    """`groundqa index` while the chat serves: the next question is answered from the new commit."""
    from qa import KnowledgeBase
    from qa.updating import index_paths

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "ferry.txt").write_text("The Tallow Creek ferry was painted blue in 2024.\n")
    index_paths([docs], index_dir=tmp_path / "idx", encoder=fake_encoder, show_progress=False)
    kb = KnowledgeBase.open(tmp_path / "idx", encoder=fake_encoder)
    service = ChatService(kb, upload_dir=tmp_path / "uploads")
    service.holder.check_seconds = 0
    (docs / "otters.txt").write_text("Otters came back to the creek in 2019.\n")
    index_paths([docs], index_dir=tmp_path / "idx", encoder=fake_encoder, show_progress=False)
    assert [d["doc_id"] for d in service.documents()] == ["ferry.txt", "otters.txt"]
    service.kb.encoder = fake_encoder  # (the reopened index would load the real model on first question)
    assert service.kb.search("otters creek", k=1)[0].doc_id == "otters.txt"
