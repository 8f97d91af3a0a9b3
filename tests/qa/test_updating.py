"""`groundqa index` on an index that exists: only what changed is read and encoded, and the result
answers as a fresh build of the same files would."""

from __future__ import annotations

import os
import random


from conftest import CountingEncoder, FakeEncoder, write
from qa import KnowledgeBase
from qa.updating import index_paths as run_index


def index_paths(paths, *, index_dir, encoder, **kwargs):
    """`qa.updating.index_paths`, then the index opened: (knowledge base, report)."""
    report = run_index(paths, index_dir=index_dir, encoder=encoder, **kwargs)
    return KnowledgeBase.open(index_dir, encoder=encoder), report

QUESTIONS = ["Which river floods in spring?", "Who keeps the bees?", "What colour is the ferry?",
             "How many colonies were lost?", "When does the market open?"]
FACTS = ["The Tallow river floods every spring after the snow melts.", "Mara keeps twelve hives of bees.",
         "The ferry at Tallow Creek was painted blue.", "The club lost nine colonies last winter.",
         "The market opens at seven on Saturdays.", "The library lends tools as well as books.",
         "Otters returned to the creek in 2019.", "The bridge was closed for repairs in March."]
PLACES = ["Ashby", "Brook End", "Carrow", "Dunmere", "Elsfield", "Fenwick", "Garth", "Holloway", "Islip"]


def _note(rng: random.Random, n: int) -> str:
    """`n` facts, each told of a place of its own, so that no two files share a sentence (no ties)."""
    return " ".join(f"In {rng.choice(PLACES)} {rng.randint(2, 999)}, {fact[0].lower()}{fact[1:]}"
                    for fact in rng.sample(FACTS, n))



def _answers(kb):
    """What search and ask give for every question, rounded so that float noise does not count;
    results of equal score may come in either order (documents sit in another order on disk)."""
    out = []
    for q in QUESTIONS:
        out.append(sorted((-round(p.score, 4), p.doc_id, p.start, p.end) for p in kb.search(q, k=4)))
        a = kb.ask(q, reader=False)
        out.append((a.abstained, round(a.confidence, 3),
                    sorted((-round(x.score, 3), x.doc_id, x.start, x.end) for x in a.quotes)))
    return out


def _fresh(folder, tmp_path):
    kb, _ = index_paths([folder], index_dir=tmp_path / "fresh", rebuild=True, encoder=FakeEncoder(),
                        show_progress=False)
    return kb


def test_adds_changes_and_deletions_answer_as_a_fresh_build(tmp_path):
    rng = random.Random(7)
    docs = tmp_path / "docs"
    for i in range(4):
        write(docs / f"note{i}.txt", _note(rng, 3))
    encoder = CountingEncoder()
    index_paths([docs], index_dir=tmp_path / "idx", encoder=encoder, show_progress=False)
    for step in range(6):  # add one, change one, delete one, in turn
        names = sorted(p.name for p in docs.iterdir())
        if step % 3 == 0:
            write(docs / f"sub/new{step}.txt", _note(rng, 2))
        elif step % 3 == 1:
            write(docs / rng.choice([n for n in names if n.endswith(".txt")]), _note(rng, 4))
        else:
            (docs / rng.choice([n for n in names if n.endswith(".txt")])).unlink()
        kb, report = index_paths([docs], index_dir=tmp_path / "idx", encoder=encoder, show_progress=False)
        assert report.modified and not report.rebuilt
        assert _answers(kb) == _answers(_fresh(docs, tmp_path / f"f{step}"))
        assert sorted(d.doc_id for d in kb.documents) == sorted(d.doc_id for d in _fresh(docs, tmp_path / f"g{step}").documents)


def test_an_unchanged_folder_encodes_nothing_and_writes_nothing(tmp_path):
    docs = tmp_path / "docs"
    for i, fact in enumerate(FACTS):
        write(docs / f"f{i}.md", fact)
    encoder = CountingEncoder()
    kb, _ = index_paths([docs], index_dir=tmp_path / "idx", encoder=encoder, show_progress=False)
    encoded = encoder.encoded
    os.utime(docs / "f0.md")  # touched, not changed: read again, still not encoded
    kb, report = index_paths([docs], index_dir=tmp_path / "idx", encoder=encoder, show_progress=False)
    assert (report.added, report.changed, report.removed, report.unchanged) == ([], [], [], len(FACTS))
    assert encoder.encoded == encoded
    index_id = kb.manifest["index_id"]
    kb, report = index_paths([docs], index_dir=tmp_path / "idx", encoder=encoder, show_progress=False)
    assert not report.modified and kb.manifest["index_id"] == index_id


def test_only_the_new_file_is_encoded(tmp_path):
    docs = tmp_path / "docs"
    for i, fact in enumerate(FACTS[:6]):
        write(docs / f"f{i}.txt", fact)
    encoder = CountingEncoder()
    index_paths([docs], index_dir=tmp_path / "idx", encoder=encoder, show_progress=False)
    before = encoder.encoded
    write(docs / "late.txt", FACTS[6])
    kb, report = index_paths([docs], index_dir=tmp_path / "idx", encoder=encoder, show_progress=False)
    assert report.added == ["late.txt"]
    assert encoder.encoded - before <= 3  # its chunk and its sentence: nothing of the other six
    assert kb.search("Otters in the creek", k=1)[0].doc_id == "late.txt"


def test_documents_from_other_folders_survive_an_update(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    write(a / "one.txt", FACTS[0])
    write(b / "two.txt", FACTS[1])
    index_paths([a], index_dir=tmp_path / "idx", encoder=FakeEncoder(), show_progress=False)
    kb, _ = index_paths([b], index_dir=tmp_path / "idx", encoder=FakeEncoder(), show_progress=False)
    assert sorted(d.doc_id for d in kb.documents) == ["one.txt", "two.txt"]
    (b / "two.txt").unlink()
    write(b / "three.txt", FACTS[2])
    kb, report = index_paths([b], index_dir=tmp_path / "idx", encoder=FakeEncoder(), show_progress=False)
    assert report.removed == ["two.txt"] and report.added == ["three.txt"]
    assert sorted(d.doc_id for d in kb.documents) == ["one.txt", "three.txt"]


def test_a_file_that_turns_bad_is_dropped_and_said(tmp_path):
    docs = tmp_path / "docs"
    write(docs / "good.txt", FACTS[0])
    write(docs / "soon-bad.txt", FACTS[1])
    index_paths([docs], index_dir=tmp_path / "idx", encoder=FakeEncoder(), show_progress=False)
    (docs / "soon-bad.txt").write_bytes(bytes(range(256)) * 20)
    said = []
    kb, report = index_paths([docs], index_dir=tmp_path / "idx", encoder=FakeEncoder(), show_progress=False,
                             on_skip=lambda path, reason: said.append((os.path.basename(path), reason)))
    assert said == [("soon-bad.txt", "binary content, not txt")]
    assert [d.doc_id for d in kb.documents] == ["good.txt"] and report.removed == ["soon-bad.txt"]


def test_other_chunking_rebuilds(tmp_path):
    docs = tmp_path / "docs"
    write(docs / "a.txt", " ".join(FACTS))
    index_paths([docs], index_dir=tmp_path / "idx", encoder=FakeEncoder(), show_progress=False, chunk_size=30)
    kb, report = index_paths([docs], index_dir=tmp_path / "idx", encoder=FakeEncoder(), show_progress=False,
                             chunk_size=20)
    assert report.rebuilt and kb.manifest["chunking"]["max_tokens"] == 20


def test_uploads_survive_a_re_index_of_the_folders(tmp_path):
    """`make demo` re-indexes corpus/samples into the chat's index: what was uploaded stays."""
    docs = tmp_path / "docs"
    write(docs / "one.txt", FACTS[0])
    kb, _ = index_paths([docs], index_dir=tmp_path / "idx", encoder=FakeEncoder(), show_progress=False)
    write(tmp_path / "staged" / "note.md", FACTS[1])
    kb, added = kb.add([tmp_path / "staged" / "note.md"], prefix="uploads/")
    assert [d.doc_id for d in added] == ["uploads/note.md"]
    write(docs / "two.txt", FACTS[2])
    kb, report = index_paths([docs], index_dir=tmp_path / "idx", encoder=FakeEncoder(), show_progress=False)
    assert report.added == ["two.txt"] and not report.removed
    assert sorted(d.doc_id for d in kb.documents) == ["one.txt", "two.txt", "uploads/note.md"]


def test_an_unchanged_bad_file_is_skipped_again_without_being_read(tmp_path, monkeypatch):
    docs = tmp_path / "docs"
    write(docs / "good.txt", FACTS[0])
    (docs / "empty.txt").write_bytes(b"")
    said = []
    on_skip = lambda path, reason: said.append((os.path.basename(path), reason))  # noqa: E731
    index_paths([docs], index_dir=tmp_path / "idx", encoder=FakeEncoder(), show_progress=False, on_skip=on_skip)
    read = []
    import qa.updating

    real = qa.updating.read_file
    monkeypatch.setattr(qa.updating, "read_file", lambda f, **kw: read.append(f.doc_id) or real(f, **kw))
    write(docs / "new.txt", FACTS[1])
    kb, report = index_paths([docs], index_dir=tmp_path / "idx", encoder=FakeEncoder(), show_progress=False,
                             on_skip=on_skip)
    assert read == ["new.txt"] and report.added == ["new.txt"]
    assert said == [("empty.txt", "empty file")] * 2
    (docs / "empty.txt").write_text(FACTS[2])  # mended: read and indexed
    kb, report = index_paths([docs], index_dir=tmp_path / "idx", encoder=FakeEncoder(), show_progress=False)
    assert report.added == ["empty.txt"]
