import json

import pytest

from conftest import write
from embeddings import IndexMismatchError, IndexNotFoundError, atomic_folder
from embeddings.errors import IndexDamagedError
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

    monkeypatch.setattr("embeddings.segments.write_store", crash)
    with pytest.raises(KeyboardInterrupt):
        build(tmp_path, fake_encoder, text="Completely different content about tractors.")
    reopened = KnowledgeBase.open(tmp_path / "idx", encoder=fake_encoder)
    assert reopened.search("honey") == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".idx")] == [".idx.lock"]  # no half-written folder
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


def segment(idx):
    """The one segment folder of a freshly built small index."""
    (folder,) = (idx / "segments").iterdir()
    return folder


@pytest.mark.parametrize("damage, why", [
    (lambda idx: (segment(idx) / "chunks.npy").write_bytes((segment(idx) / "chunks.npy").read_bytes()[:100]),
     "chunks.npy has 100 bytes"),
    (lambda idx: (segment(idx) / "sentences.npy").unlink(), "sentences.npy is missing"),
    (lambda idx: (segment(idx) / "store.sqlite").write_bytes(bytes(len((segment(idx) / "store.sqlite").read_bytes()))),
     "checksum differs"),
    (lambda idx: (segment(idx) / "postings_rows.npy").write_bytes(bytes(52)), "postings_rows.npy has 52 bytes"),
    (lambda idx: (segment(idx) / "table.npz").write_bytes(b"PK" + bytes(50)), "table.npz has 52 bytes"),
    (lambda idx: (segment(idx) / "text_index.npz").unlink(), "text_index.npz is missing"),
    (lambda idx: (segment(idx) / "texts.bin").write_bytes(b"abc"), "texts.bin has 3 bytes"),
    (lambda idx: __import__("shutil").rmtree(segment(idx)), "is missing"),
    (lambda idx: (idx / "manifest.json").write_text((idx / "manifest.json").read_text().replace('"documents":1', '"documents":2')),
     "manifest.json was edited"),
    (lambda idx: (idx / "manifest.json").write_text("{"), "unreadable manifest"),
])
def test_a_damaged_index_is_named_with_the_fix(tmp_path, fake_encoder, damage, why):
    build(tmp_path, fake_encoder)
    damage(tmp_path / "idx")
    with pytest.raises(IndexDamagedError, match="rebuild it with `groundqa index PATH... --rebuild") as err:
        KnowledgeBase.open(tmp_path / "idx", encoder=fake_encoder)
    assert why in str(err.value)


def test_a_damaged_large_index_is_caught_when_loading(tmp_path, fake_encoder, monkeypatch):
    """Above the hashing limit only sizes are checked; a same-size garbled file still fails in one line."""
    monkeypatch.setattr("embeddings.index_folder.HASH_LIMIT", 0)
    build(tmp_path, fake_encoder)
    path = segment(tmp_path / "idx") / "chunks.npy"
    path.write_bytes(b"x" * path.stat().st_size)
    with pytest.raises(IndexDamagedError, match=r"damaged \(ValueError"):
        KnowledgeBase.open(tmp_path / "idx", encoder=fake_encoder)


def test_repeated_text_is_encoded_once_and_gets_the_same_vectors(tmp_path, fake_encoder):
    calls = []
    encode = fake_encoder.encode
    fake_encoder.encode = lambda texts, **kw: calls.append(len(texts)) or encode(texts)
    text = "# Notes\n\n" + "Bees make honey. " * 3 + "\n\n" + "Wasps do not. " * 2
    write(tmp_path / "docs" / "a.md", text)  # one file's text twice, under one title
    write(tmp_path / "docs" / "b.md", text)
    kb = KnowledgeBase.build([tmp_path / "docs"], index_dir=tmp_path / "idx", encoder=fake_encoder,
                             show_progress=False)
    texts = [c.text for c in kb.chunks]
    assert sum(calls) <= (len(texts) + len(kb.sentences)) / 2
    matrix = kb._matrix
    for i, j in [(i, j) for i in range(len(texts)) for j in range(len(texts)) if texts[i] == texts[j]]:
        assert (matrix[i] == matrix[j]).all()
