"""``dedup-near`` removes only near duplicates, measured against exact Jaccard labels.

A seeded generator builds instruction records the way they look in practice: many
share one long system prompt, some are filled from one template, and some are
near copies of others (one or two words changed, a sentence appended, spacing
and case redone). The labels come from exact Jaccard similarity of word
shingles, computed here independently of the step, with the same greedy rule
(a record is a duplicate when it is near one kept before it).
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path
from typing import Any

import pytest

from lmops_core.errors import ValidationError
from lmops_core.workspace import Workspace
from tests.conftest import write_jsonl

THRESHOLD = 0.8
SHINGLE = 3


def _vocabulary(rng: random.Random, size: int) -> list[str]:
    syllables = ["ba", "ko", "ri", "mel", "tan", "su", "dor", "ve", "lin", "qua", "pe", "zor"]
    words: set[str] = set()
    while len(words) < size:
        words.add("".join(rng.choice(syllables) for _ in range(rng.randint(2, 3))))
    return sorted(words)


def _sentence(rng: random.Random, vocab: list[str], lo: int, hi: int) -> str:
    return " ".join(rng.choice(vocab) for _ in range(rng.randint(lo, hi))) + "."


def _edit_words(rng: random.Random, vocab: list[str], text: str) -> str:
    words = text.split(" ")
    for _ in range(rng.randint(1, 2)):
        words[rng.randrange(len(words))] = rng.choice(vocab)
    return " ".join(words)


def _reformat(rng: random.Random, text: str) -> str:
    words = text.split(" ")
    spaced = "".join(w + rng.choice([" ", "  ", "\n", " \t "]) for w in words).strip()
    return spaced.upper() if rng.random() < 0.5 else spaced.capitalize()


def _near_copy(rng: random.Random, vocab: list[str], record: dict[str, Any]) -> dict[str, Any]:
    copy = dict(record)
    field = rng.choice(["prompt", "response"])
    how = rng.choice(["edit", "append", "reformat"])
    if how == "edit":
        copy[field] = _edit_words(rng, vocab, copy[field])
    elif how == "append":
        copy["response"] = copy["response"] + " " + _sentence(rng, vocab, 5, 9)
    else:
        copy[field] = _reformat(rng, copy[field])
    return copy


def labelled_records(seed: int = 17) -> list[dict[str, Any]]:
    """Base records (a shared 150-word system prompt, templated ones) and near copies."""
    rng = random.Random(seed)
    vocab = _vocabulary(rng, 600)
    system = " ".join(rng.choice(vocab) for _ in range(150))
    base: list[dict[str, Any]] = []
    for _ in range(60):
        base.append(
            {
                "system": system,
                "prompt": _sentence(rng, vocab, 12, 30),
                "response": " ".join(
                    _sentence(rng, vocab, 8, 16) for _ in range(rng.randint(2, 4))
                ),
            }
        )
    names, places = vocab[:40], vocab[40:80]
    for _ in range(40):
        name, place, amount = rng.choice(names), rng.choice(places), rng.randint(10, 99_999)
        base.append(
            {
                "system": system,
                "prompt": f"Please move {amount} dollars from my account to {name} in {place} "
                f"before {rng.choice(vocab)} and tell me the fee.",
                "response": f"I moved {amount} dollars to {name} in {place}. The fee was "
                f"{rng.randint(1, 30)} dollars and the transfer reference is "
                f"{rng.choice(vocab)} {rng.randint(1000, 9999)}.",
            }
        )
    copies = [_near_copy(rng, vocab, rng.choice(base)) for _ in range(60)]
    records = base + copies
    rng.shuffle(records)
    return [{"id": i, **r} for i, r in enumerate(records)]


def _shingles(record: dict[str, Any], fields: tuple[str, ...]) -> set[tuple[str, ...]]:
    words = re.findall(r"\w+", "\n".join(record[f] for f in fields).lower())
    return {tuple(words[i : i + SHINGLE]) for i in range(len(words) - SHINGLE + 1)}


def exact_duplicates(
    records: list[dict[str, Any]], fields: tuple[str, ...] = ("prompt", "response")
) -> set[int]:
    """Ids a greedy pass by exact Jaccard (>= THRESHOLD) removes."""
    kept: list[set[tuple[str, ...]]] = []
    removed: set[int] = set()
    for record in records:
        mine = _shingles(record, fields)
        if any(len(mine & k) / len(mine | k) >= THRESHOLD for k in kept):
            removed.add(record["id"])
        else:
            kept.append(mine)
    return removed


def _run(ws: Workspace, tmp_path: Path, records: list[dict[str, Any]], **params: Any) -> Any:
    ref = ws.register_dataset(
        "near", write_jsonl(tmp_path / "near.jsonl", records), shape="instruction"
    ).ref
    return ws.run_stage(
        "data_preparation",
        "dedup-near",
        inputs={"dataset": ref},
        params={"threshold": THRESHOLD, **params},
    )


def _removed_ids(
    ws: Workspace, tmp_path: Path, out: Any, records: list[dict[str, Any]]
) -> set[int]:
    path = ws.export(out.output("dataset"), tmp_path / "out")
    data = path if path.is_file() else next(path.rglob("*.jsonl"))
    kept = {json.loads(line)["id"] for line in data.read_text().splitlines() if line.strip()}
    return {r["id"] for r in records} - kept


def test_near_dedup_precision_and_recall_against_exact_jaccard(
    sqlite_ws: Workspace, tmp_path: Path, record_property: Any
) -> None:
    records = labelled_records()
    truth = exact_duplicates(records)
    assert len(truth) >= 40  # the set really holds near copies to find
    out = _run(sqlite_ws, tmp_path, records)
    removed = _removed_ids(sqlite_ws, tmp_path, out, records)
    hits = len(removed & truth)
    precision, recall = hits / max(1, len(removed)), hits / len(truth)
    record_property("precision", round(precision, 3))
    record_property("recall", round(recall, 3))
    assert precision >= 0.95, (precision, recall, sorted(removed - truth))
    assert recall >= 0.9, (precision, recall, sorted(truth - removed))
    ev = sqlite_ws.evidence(out.output("dataset"), kind="data_step")[0]
    assert ev.metrics["records_removed"] == len(removed)
    assert ev.details["params"]["threshold"] == THRESHOLD
    assert ev.details["fields_compared"] == ["prompt", "response"]
    assert ev.details["candidates_checked"] >= len(removed)


def test_the_shared_system_prompt_alone_makes_no_duplicate(
    sqlite_ws: Workspace, tmp_path: Path
) -> None:
    records = labelled_records()
    with_system = exact_duplicates(records, ("system", "prompt", "response"))
    # Compared with the system prompt, far more records look alike than really are.
    assert len(with_system) > len(exact_duplicates(records)) + 20
    out = _run(sqlite_ws, tmp_path, records, fields=["system", "prompt", "response"])
    removed = _removed_ids(sqlite_ws, tmp_path, out, records)
    assert len(removed & with_system) >= 0.95 * len(removed)


def test_unknown_or_foreign_field_is_named(sqlite_ws: Workspace, tmp_path: Path) -> None:
    records = labelled_records()[:5]
    with pytest.raises(
        ValidationError,
        match=r'parameter "fields": Value error, unknown field "answer" \(known: assistant, ',
    ):
        _run(sqlite_ws, tmp_path, records, fields=["prompt", "answer"])
    with pytest.raises(
        ValidationError,
        match=r'"fields": "user" is not a field of instruction records '
        r"\(fields: system, prompt, response\)",
    ):
        _run(sqlite_ws, tmp_path, records, fields=["user"])


def test_dialogues_compare_user_and_assistant_turns_by_default(
    sqlite_ws: Workspace, tmp_path: Path
) -> None:
    system = "you are a careful assistant of the bank " * 20
    rows = [
        {
            "messages": [
                {"role": "system", "content": system},
                {"role": "user", "content": f"how do I close account number {n} today"},
                {"role": "assistant", "content": f"account {n} can be closed in any branch"},
            ]
        }
        for n in (1111, 2222, 3333)
    ]
    rows.append(json.loads(json.dumps(rows[0]).replace("today", "today please")))
    ref = sqlite_ws.register_dataset(
        "chats", write_jsonl(tmp_path / "chats.jsonl", rows), shape="dialogue"
    ).ref
    out = sqlite_ws.run_stage(
        "data_preparation", "dedup-near", inputs={"dataset": ref}, params={"threshold": 0.6}
    )
    ev = sqlite_ws.evidence(out.output("dataset"), kind="data_step")[0]
    assert ev.metrics["records_removed"] == 1
    assert ev.details["fields_compared"] == ["user", "assistant"]


def test_records_without_the_named_fields_are_kept(sqlite_ws: Workspace, tmp_path: Path) -> None:
    rows = [
        {"id": i, "prompt": f"question {i} about loans", "response": "ask a branch"}
        for i in range(3)
    ]
    out = _run(sqlite_ws, tmp_path, rows, fields=["system"])
    ev = sqlite_ws.evidence(out.output("dataset"), kind="data_step")[0]
    assert ev.metrics["records_removed"] == 0
    assert ev.details["fields_compared"] == ["system"]
