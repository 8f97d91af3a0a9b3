import threading

import numpy as np
import pytest

from embeddings.ann_index import ExactSearch
from embeddings.lexical_index import LexicalIndex
from qa.retrieval import RetrievalSettings, rank_chunks
from qa.side_thread import SideThread


def test_work_runs_on_the_helper_while_the_caller_goes_on():
    side, caller_done, seen = SideThread(), threading.Event(), []

    def work():
        seen.append(threading.current_thread().name)
        assert caller_done.wait(5)  # the caller got here first: `start` did not wait for the work
        return 42

    result = side.start(work)
    caller_done.set()
    assert result() == 42
    assert seen[0].startswith("groundqa-side")


def test_busy_helpers_leave_the_work_to_the_callers_thread():
    side, release = SideThread(workers=2), threading.Event()
    busy = [side.start(lambda: release.wait(5)) for _ in range(2)]
    third = side.start(threading.current_thread)  # both helpers are busy: runs here, at once
    assert third() is threading.current_thread()
    release.set()
    assert [done() for done in busy] == [True, True]
    assert side.start(lambda: threading.current_thread().name)().startswith("groundqa-side")  # free again


def test_an_error_in_the_work_reaches_the_caller_and_frees_the_helper():
    side = SideThread()

    def fail():
        raise ValueError("no")

    result = side.start(fail)
    with pytest.raises(ValueError, match="no"):
        result()
    assert side.start(lambda: 7)() == 7


def test_a_hybrid_ranking_is_the_same_with_and_without_the_side_thread():
    rng = np.random.default_rng(5)
    words = ["bee", "hive", "honey", "swarm", "queen", "wax", "pollen", "nectar", "comb", "drone"]
    texts = [" ".join(rng.choice(words, size=rng.integers(3, 12))) for _ in range(300)]
    matrix = rng.normal(size=(300, 16)).astype(np.float32)
    lexical, settings = LexicalIndex.build(texts), RetrievalSettings(candidates=20)
    side = SideThread()
    for question in ("queen bee swarm", "wax comb honey", "drone"):
        query = rng.normal(size=16).astype(np.float32)
        common = dict(vectors=ExactSearch(matrix), matrix=matrix, lexical=lexical, prior=None, allowed=None,
                      encode_query=lambda: query)
        alone = rank_chunks(question, 20, "hybrid", settings, **common)
        beside = rank_chunks(question, 20, "hybrid", settings, **common, start=side.start)
        assert np.array_equal(alone[0], beside[0]) and np.array_equal(alone[1], beside[1])
        assert np.array_equal(alone[2], query)
