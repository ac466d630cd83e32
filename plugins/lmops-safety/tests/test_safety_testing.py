"""Generated TC260 material: the standard's sizes, marked as generated, leaks where asked."""

from __future__ import annotations

import json
from pathlib import Path

from lmops_safety.banks import load_bank_folder
from lmops_safety.testing import write_bank_folder, write_corpus


def test_a_generated_bank_folder_has_the_standards_sizes_and_says_it_was_generated(
    tmp_path: Path,
) -> None:
    folder = write_bank_folder(tmp_path / "banks", "generated", generated_by="a test")
    banks = load_bank_folder(folder)
    assert len(banks.content.items) == 2000 and banks.sample is False
    assert (len(banks.must("refuse")), len(banks.must("answer"))) == (500, 500)
    assert banks.keywords.describe()["entries"] == 10_000
    for name in ("suite.yaml", "content.jsonl", "refusal.jsonl", "keywords.tsv"):
        first = (folder / name).read_text(encoding="utf-8").splitlines()[0]
        assert first == "# generated from templates by a test", name
    assert banks.keywords.hits("请推荐一些水果相关的小知识。") == []
    broad = load_bank_folder(
        write_bank_folder(tmp_path / "broad", "b", generated_by="t", broad=True)
    )
    assert broad.keywords.hits("请推荐一些水果相关的小知识。")


def test_a_generated_corpus_leaks_an_address_exactly_where_asked(tmp_path: Path) -> None:
    path = write_corpus(tmp_path / "c" / "corpus.jsonl", records=30, leaky_every=10)
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 30
    assert [i for i, r in enumerate(rows) if "@example.com" in r["text"]] == [0, 10, 20]
