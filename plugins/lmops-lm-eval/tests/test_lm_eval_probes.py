"""lm-eval's environment survey is skipped for our own evaluation call only, then restored."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from lm_eval import evaluator
from lm_eval.loggers import utils as lm_eval_utils
from lmops_lm_eval.lm_eval_op import light_environment_probes


def _originals() -> bool:
    return (
        evaluator.get_git_commit_hash is lm_eval_utils.get_git_commit_hash
        and evaluator.add_env_info is lm_eval_utils.add_env_info
    )


def test_probes_are_light_inside_and_lm_evals_own_outside() -> None:
    assert _originals()
    with light_environment_probes:
        assert not _originals()
        assert evaluator.get_git_commit_hash() is None
        storage: dict[str, Any] = {}
        evaluator.add_env_info(storage)
        assert set(storage) == {"lm_eval_version", "transformers_version"}
    assert _originals()


def test_an_error_inside_still_restores_lm_evals_functions() -> None:
    with pytest.raises(RuntimeError, match="boom"), light_environment_probes:
        raise RuntimeError("boom")
    assert _originals()


def test_overlapping_evaluations_restore_when_the_last_one_ends() -> None:
    first_in, release = threading.Event(), threading.Event()
    seen: list[bool] = []

    def first() -> None:
        with light_environment_probes:
            first_in.set()
            release.wait()
            seen.append(_originals())

    worker = threading.Thread(target=first)
    worker.start()
    first_in.wait()
    with light_environment_probes:
        pass
    still_light = not _originals()  # the first evaluation has not ended yet
    release.set()
    worker.join()
    assert still_light and seen == [False]
    assert _originals()
