"""The `groundqa` command end to end, as a subprocess with the real model."""

import json
import os
import subprocess
import sys

import pytest

from conftest import ROOT, SAMPLES, write


def groundqa(*args, cwd=None):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TQDM_DISABLE": "1"}
    env.pop("GROUNDQA_INDEX", None)
    return subprocess.run([sys.executable, "-m", "ui.cli", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd or ROOT, env=env, timeout=300)


@pytest.fixture(scope="module")
def sample_index(tmp_path_factory):
    index = tmp_path_factory.mktemp("cli") / "idx"
    r = groundqa("index", SAMPLES, "--index", index, "--quiet")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("indexed 11 documents as ")
    return index


def test_search_json_passages_are_slices_of_show_text(sample_index):
    r = groundqa("search", "Who is the secretary of the club?", "-k", 3, "--json", "--index", sample_index)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["question"] == "Who is the secretary of the club?"
    assert len(out["passages"]) == 3
    for p in out["passages"]:
        assert set(p) >= {"text", "doc_id", "source", "title", "start", "end", "page", "score", "rank"}
        shown = json.loads(groundqa("show", p["doc_id"], "--json", "--index", sample_index).stdout)
        assert shown["text"][p["start"]:p["end"]] == p["text"]
        assert set(shown) >= {"doc_id", "source", "title", "text"}


def test_search_text_output_names_source_and_span(sample_index):
    r = groundqa("search", "sugar syrup ratio", "--index", sample_index)
    assert r.returncode == 0
    assert "chars " in r.stdout and "[1]" in r.stdout


@pytest.mark.parametrize("args, message", [
    (["search", "   "], "question is empty"),
    (["search", "bees", "-k", "0"], "k must be at least 1"),
    (["show", "no-such-doc"], "no document 'no-such-doc'"),
])
def test_bad_input_is_one_line_and_nonzero(sample_index, args, message):
    r = groundqa(*args, "--index", sample_index)
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    assert lines[-1].startswith("groundqa: error:") and message in lines[-1]
    assert "Traceback" not in r.stderr


def test_missing_path_missing_index_and_unusable_folder(tmp_path):
    for args, message in [
        (["index", tmp_path / "missing", "--index", tmp_path / "i"], "no such file or folder"),
        (["search", "bees", "--index", tmp_path / "none"], "no index at"),
        (["index", write(tmp_path / "e" / "x.bin", "z").parent, "--index", tmp_path / "i"], "no usable documents"),
    ]:
        r = groundqa(*args)
        assert r.returncode == 1, r.stderr
        assert "Traceback" not in r.stderr and message in r.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "i").exists()


def test_a_folder_of_only_unusable_files_is_a_clear_error(tmp_path):
    broken = write(tmp_path / "d" / "bad.pdf", "%PDF-1.4 this is not really a pdf")
    r = groundqa("index", broken.parent, "--index", tmp_path / "i")
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "bad.pdf: corrupt PDF" in lines[0] and "no usable documents" in lines[-1]
    assert not (tmp_path / "i").exists()


def test_seed_article_search_is_verifiable(shared_data, tmp_path):
    idx = tmp_path / "seed-idx"
    assert groundqa("index", shared_data / "seed", "--index", idx, "--quiet").returncode == 0
    r = groundqa("search", "Who proposed the global cybersecurity concept?", "--json", "--index", idx)
    passages = json.loads(r.stdout)["passages"]
    assert "Wang Yi" in passages[0]["text"]
    raw = (shared_data / "seed" / "wang-yi-cybersecurity-2023-07-25.txt").read_text(encoding="utf-8")
    for p in passages:
        assert raw[p["start"]:p["end"]] == p["text"]


def test_help_texts_exist_for_every_command():
    for cmd in ("index", "search", "show", "serve"):
        r = groundqa(cmd, "--help")
        assert r.returncode == 0 and "--index" in r.stdout
