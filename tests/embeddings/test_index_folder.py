import json

import pytest

from conftest import write
from embeddings import IndexMismatchError, IndexNotFoundError, atomic_folder
from qa import KnowledgeBase


def build(tmp_path, fake_encoder, text="Bees make honey. Wasps do not."):
    docs = write(tmp_path / "docs" / "a.txt", text).parent
    return KnowledgeBase.build([docs], index_dir=tmp_path / "idx", encoder=fake_encoder, show_progress=False)


def test_round_trip_gives_the_same_documents_chunks_and_results(tmp_path, fake_encoder):
    kb = build(tmp_path, fake_encoder)
    again = KnowledgeBase.open(tmp_path / "idx", encoder=fake_encoder)
    assert again.documents == kb.documents
    assert again.chunks == kb.chunks
    for mode in ("hybrid", "dense", "lexical"):
        assert again.search("honey", mode=mode) == kb.search("honey", mode=mode)
    manifest = json.loads((tmp_path / "idx" / "manifest.json").read_text())
    assert manifest["model"] == {"name": "fake-encoder", "dimension": 64}
    assert manifest["counts"] == {"documents": 1, "chunks": len(kb.chunks), "sentences": 2, "sentence_windows": 0}
    assert manifest["chunking"]["max_tokens"] == 40


def test_an_index_of_another_format_version_is_refused_with_the_fix(tmp_path, fake_encoder):
    build(tmp_path, fake_encoder)
    path = tmp_path / "idx" / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["format_version"] = 999
    path.write_text(json.dumps(manifest))
    with pytest.raises(IndexMismatchError, match="rebuild it with `groundqa index"):
        KnowledgeBase.open(tmp_path / "idx", encoder=fake_encoder)


def test_an_index_of_another_model_is_refused(tmp_path, fake_encoder):
    build(tmp_path, fake_encoder)
    fake_encoder.name = "another-model"
    with pytest.raises(IndexMismatchError, match="built with model 'fake-encoder'"):
        KnowledgeBase.open(tmp_path / "idx", encoder=fake_encoder)


def test_no_index_yet_says_how_to_build_one(tmp_path, fake_encoder):
    with pytest.raises(IndexNotFoundError, match="groundqa index"):
        KnowledgeBase.open(tmp_path / "nothing", encoder=fake_encoder)


def test_a_crash_mid_build_leaves_the_previous_index_intact(tmp_path, fake_encoder, monkeypatch):
    kb = build(tmp_path, fake_encoder)
    before = kb.search("honey")
    import embeddings.index_folder as index_folder

    def crash(*args, **kwargs):
        raise KeyboardInterrupt  # Ctrl-C while the new store is being written

    monkeypatch.setattr("qa.knowledge_base.write_store", crash)
    with pytest.raises(KeyboardInterrupt):
        build(tmp_path, fake_encoder, text="Completely different content about tractors.")
    reopened = KnowledgeBase.open(tmp_path / "idx", encoder=fake_encoder)
    assert reopened.search("honey") == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".idx")] == []
    assert index_folder  # the module stays importable after the failed build


def test_a_swap_cut_between_its_renames_is_recovered(tmp_path, fake_encoder):
    build(tmp_path, fake_encoder)
    (tmp_path / "idx").rename(tmp_path / ".idx.old-deadbeef")  # as if killed after the first rename
    kb = KnowledgeBase.open(tmp_path / "idx", encoder=fake_encoder)
    assert kb.search("honey")[0].text.startswith("Bees make honey")


def test_atomic_folder_replaces_the_target_whole(tmp_path):
    target = tmp_path / "t"
    target.mkdir()
    (target / "old.txt").write_text("old")
    with atomic_folder(target) as tmp:
        (tmp / "new.txt").write_text("new")
        assert (target / "old.txt").exists()
    assert [p.name for p in target.iterdir()] == ["new.txt"]
