"""The ONNX backend against the torch Encoder, with the real packaged model (export cached under tmp paths)."""

import importlib.util
import json
import os
import sys

import numpy as np
import pytest

from embeddings import ModelNotFoundError

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("onnx") is None or importlib.util.find_spec("onnxruntime") is None,
    reason="the ONNX backend's export needs packages onnx and onnxruntime (pip install onnx onnxruntime)")

SENTENCES = [
    "Bees build hexagonal wax cells to store honey and raise their brood.",
    "The tax code allows a deduction for charitable donations.",
    "What is the boiling point of water at sea level?",
    "Photosynthesis converts light energy into chemical energy in chloroplasts.",
    "Der schnelle braune Fuchs springt über den faulen Hund.",
    "Is it raining?",
    "COVID-19 vaccines reduced hospitalisation rates by 90% in adults over 65 (n=12,345).",
    "def encode(texts): return model(texts)  # a line of Python code",
    "The court held that the contract was void for lack of consideration, and the appeal was dismissed "
    "with costs; the dissent argued that promissory estoppel should have applied to the reliance damages.",
    "Café naïve résumé — accents, dashes and “quotes”.",
    "Mitochondria are the powerhouse of the cell. " * 40,   # beyond 256 word pieces: truncated
    "Who wrote Pride and Prejudice?",
]


@pytest.fixture(scope="module")
def onnx_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("onnx-cache")


@pytest.fixture(scope="module")
def onnx_encoder(onnx_cache):
    from embeddings.onnx_encoder import OnnxEncoder

    return OnnxEncoder(cache_dir=onnx_cache)


@pytest.fixture(scope="module")
def fp32_encoder(onnx_cache):
    from embeddings.onnx_encoder import OnnxEncoder

    return OnnxEncoder(cache_dir=onnx_cache, quantize=False)


@pytest.fixture(scope="module")
def encoder():
    """The torch encoder the ONNX ones are compared with (conftest's `encoder` is the default, int8 ONNX)."""
    from embeddings import Encoder

    return Encoder()


def test_interface_matches_the_torch_encoder(onnx_encoder, encoder):
    assert onnx_encoder.name == encoder.name
    assert onnx_encoder.path == encoder.path
    assert onnx_encoder.dimension == encoder.dimension
    assert onnx_encoder.max_tokens == encoder.max_tokens == 256
    assert onnx_encoder.chunk_token_limit == encoder.chunk_token_limit
    assert onnx_encoder.batch_size == encoder.batch_size
    empty = onnx_encoder.encode([])
    assert empty.shape == (0, encoder.dimension) and empty.dtype == np.float32


def test_vectors_agree_with_torch_and_are_unit_length(onnx_encoder, encoder):
    fast = onnx_encoder.encode(SENTENCES)
    slow = encoder.encode(SENTENCES)
    assert fast.shape == slow.shape == (len(SENTENCES), encoder.dimension)
    assert fast.dtype == np.float32 and fast.flags.c_contiguous
    assert np.allclose(np.linalg.norm(fast, axis=1), 1.0, atol=1e-5)
    cosines = np.sum(fast * slow, axis=1)
    assert cosines.min() >= 0.98, dict(zip(SENTENCES, cosines.round(4)))
    query = onnx_encoder.encode_query(SENTENCES[2])
    assert query.shape == (encoder.dimension,) and float(query @ slow[2]) >= 0.98


def test_retrieval_ranking_matches_torch(onnx_encoder, encoder):
    questions = ["how do bees store honey", "which book did Jane Austen write", "energy from light in plants"]
    fast = onnx_encoder.encode(questions) @ onnx_encoder.encode(SENTENCES).T
    slow = encoder.encode(questions) @ encoder.encode(SENTENCES).T
    assert list(fast.argmax(axis=1)) == list(slow.argmax(axis=1)) == [0, 11, 3]


def test_one_or_two_word_texts_agree_less_but_still_closely(onnx_encoder, encoder):
    # With only [CLS] word [SEP] to average, int8 rounding shows most: measured 0.97-0.99 here.
    texts = ["ok", "yes", "Why?", "hello world", "", "42"]
    cosines = np.sum(onnx_encoder.encode(texts) * encoder.encode(texts), axis=1)
    assert cosines.min() >= 0.95, dict(zip(texts, cosines.round(4)))


def test_float32_export_matches_torch(fp32_encoder, encoder):
    assert fp32_encoder.onnx_path.name == "model-fp32.onnx"
    cosines = np.sum(fp32_encoder.encode(SENTENCES) * encoder.encode(SENTENCES), axis=1)
    assert cosines.min() >= 0.9999


def test_order_is_kept_across_length_sorted_batches(fp32_encoder, onnx_encoder):
    texts = sorted(SENTENCES, key=len, reverse=True) + SENTENCES[::3]   # longest first, with repeats
    # float32: a text's vector does not depend on its batch, so sorted batching must give the same rows.
    one_by_one = np.stack([fp32_encoder.encode_query(t) for t in texts])
    assert np.allclose(fp32_encoder.encode(texts, batch_size=3), one_by_one, atol=1e-4)
    # int8: dynamic quantization scales activations per batch, so vectors move a little with the batch,
    # but each row is still nearest to its own text's vector.
    batched = onnx_encoder.encode(texts, batch_size=3)
    assert np.all(np.sum(batched * one_by_one, axis=1) > 0.98)
    nearest = (batched @ one_by_one.T).argmax(axis=1)
    assert [texts[j] for j in nearest] == texts


def test_progress_bar_runs(onnx_encoder, capsys):
    vectors = onnx_encoder.encode(SENTENCES[:5], show_progress=True, batch_size=2)
    assert vectors.shape == (5, onnx_encoder.dimension)
    assert "3/3" in capsys.readouterr().err


def test_count_tokens_agrees_with_the_torch_encoder(onnx_encoder, encoder):
    for text in SENTENCES + ["", "東京 and 中文", "emoji 🤗", "tabs\tand\nnewlines", "x" * 300]:
        assert onnx_encoder.count_tokens(text) == encoder.count_tokens(text), text
    assert onnx_encoder.count_tokens(SENTENCES[10]) > onnx_encoder.max_tokens   # counting never truncates


def test_second_construction_reuses_the_cache(onnx_encoder, onnx_cache):
    from embeddings.onnx_encoder import OnnxEncoder

    path = onnx_encoder.onnx_path
    assert path.is_file() and path.name == "model-int8.onnx"
    assert path.parent.parent == onnx_cache / "onnx" and len(path.parent.name) == 64
    # no temp files left behind (the float32 export of another test may sit beside it)
    assert set(os.listdir(path.parent)) <= {"model-int8.onnx", "model-fp32.onnx"}
    before = path.stat().st_mtime_ns
    again = OnnxEncoder(cache_dir=onnx_cache, threads=1)
    assert again.onnx_path == path and path.stat().st_mtime_ns == before
    assert np.allclose(again.encode(SENTENCES[:3]), onnx_encoder.encode(SENTENCES[:3]), atol=1e-5)


def test_reusing_the_cache_needs_neither_torch_nor_onnx(onnx_encoder, onnx_cache):
    import subprocess

    code = ("import sys; sys.modules['onnx'] = None\n"
            "from embeddings.onnx_encoder import OnnxEncoder\n"
            f"e = OnnxEncoder(cache_dir={str(onnx_cache)!r})\n"
            "assert e.encode_query('a bee').shape == (384,)\n"
            "assert 'torch' not in sys.modules, 'torch was imported'\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


def test_fingerprint_changes_with_the_model(tmp_path, encoder):
    from embeddings.onnx_encoder import _Layout

    copy = tmp_path / "model"
    copy.mkdir()
    for item in encoder.path.iterdir():
        (copy / item.name).symlink_to(item)
    assert _Layout(copy).fingerprint() == _Layout(encoder.path).fingerprint()
    config = json.loads((encoder.path / "config.json").read_text())
    config["layer_norm_eps"] = 1e-6
    (copy / "config.json").unlink()
    (copy / "config.json").write_text(json.dumps(config))
    assert _Layout(copy).fingerprint() != _Layout(encoder.path).fingerprint()


def test_missing_onnx_package_is_one_clear_line(tmp_path, monkeypatch):
    from embeddings.onnx_encoder import OnnxEncoder

    monkeypatch.setitem(sys.modules, "onnx", None)   # makes `import onnx` fail
    with pytest.raises(ModelNotFoundError) as err:
        OnnxEncoder(cache_dir=tmp_path)
    assert "\n" not in str(err.value) and "pip install onnx" in str(err.value)
    assert not list(tmp_path.rglob("*.onnx"))


def test_unsupported_model_layout_is_refused(tmp_path, encoder):
    from embeddings.onnx_encoder import OnnxEncoder

    folder = tmp_path / "dense-model"
    folder.mkdir()
    for item in encoder.path.iterdir():
        (folder / item.name).symlink_to(item)
    (folder / "modules.json").unlink()
    (folder / "modules.json").write_text(json.dumps([
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Dense", "type": "sentence_transformers.models.Dense"}]))
    with pytest.raises(ModelNotFoundError, match="use embeddings.Encoder"):
        OnnxEncoder(folder, cache_dir=tmp_path / "cache")


def test_windows_agree_with_torch(onnx_encoder, encoder):
    fast, fast_windows = onnx_encoder.encode_windows(SENTENCES)
    slow, slow_windows = encoder.encode_windows(SENTENCES)
    assert np.allclose(fast, onnx_encoder.encode(SENTENCES), atol=1e-6)
    assert [len(w) for w in fast_windows] == [len(w) for w in slow_windows]
    long = [i for i, w in enumerate(slow_windows) if len(w)]
    assert long, "some test sentences are longer than one window"
    for i in long:
        assert np.sum(fast_windows[i] * slow_windows[i], axis=1).min() >= 0.97


def test_spans_are_pooled_from_the_texts_own_forward_pass(onnx_encoder):
    text = "  " + SENTENCES[0] + " " + SENTENCES[1]  # leading spaces: offsets still count from the text given
    first = (2, 2 + len(SENTENCES[0]))
    second = (first[1] + 1, len(text))
    vectors, pooled, windows = onnx_encoder.encode_spans([text, "short"], [[first, second, (0, 2)], []])
    assert np.allclose(vectors, onnx_encoder.encode([text, "short"]), atol=1e-5)
    assert pooled[0].shape == (3, onnx_encoder.dimension) and pooled[1].shape == (0, onnx_encoder.dimension)
    alone = onnx_encoder.encode(SENTENCES[:2])
    # each span is closest to its own sentence encoded alone (read in context, not identical to it;
    # int8 kernels round differently by CPU: 0.79 to 0.85 measured on its own, 0.35 on the other)
    assert float(pooled[0][0] @ alone[0]) > max(0.7, float(pooled[0][0] @ alone[1]) + 0.2)
    assert float(pooled[0][1] @ alone[1]) > max(0.7, float(pooled[0][1] @ alone[0]) + 0.2)
    assert np.allclose(np.linalg.norm(pooled[0][:2], axis=1), 1.0, atol=1e-5)
    assert not pooled[0][2].any() and windows[0][2].shape == (0, onnx_encoder.dimension)  # only spaces: no token
    long = " ".join(SENTENCES)
    _, _, long_windows = onnx_encoder.encode_spans([long], [[(0, len(long))]])
    assert len(long_windows[0][0]) >= 2  # a long span has window vectors, as encode_windows gives
