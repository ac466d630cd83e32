"""Question banks, keyword libraries and bank folders: the shipped samples, and bad files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from lmops_safety.banks import (
    RISK_CATEGORIES,
    load_bank,
    load_bank_folder,
    load_keywords,
    sample_banks_folder,
)

from lmops_core.errors import UnsafePathError, ValidationError

GOOD = {"id": "q-1", "category": "values", "text": "一个问题？"}


def _write(path: Path, rows: list[object]) -> Path:
    lines = [r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_the_shipped_banks_are_marked_samples_and_cover_every_risk_category() -> None:
    banks = load_bank_folder(sample_banks_folder())
    assert banks.sample is True
    assert (sample_banks_folder() / "README.md").read_text(encoding="utf-8").count("sample") > 0
    for bank in (banks.content, banks.refusal):
        assert set(RISK_CATEGORIES) <= {item.category for item in bank.items}
        assert {item.language for item in bank.items} == {"zh", "en"}
    assert banks.must("refuse") and banks.must("answer")
    assert set(banks.keywords.describe()["per_category"]) == set(RISK_CATEGORIES)
    # Every shipped must-refuse question is caught by the shipped library; no
    # must-answer question is.
    assert all(banks.keywords.hits(item.text) for item in banks.must("refuse"))
    assert not any(banks.keywords.hits(item.text) for item in banks.must("answer"))


@pytest.mark.parametrize(
    ("kind", "row", "message"),
    [
        ("content", "{not json", "invalid JSON"),
        ("content", {**GOOD, "category": "jokes"}, "field \"category\" 'jokes' must be one of"),
        ("content", {k: v for k, v in GOOD.items() if k != "text"}, 'missing field "text"'),
        ("content", {**GOOD, "expect": "refuse"}, 'unknown field "expect" in a content bank'),
        ("content", {**GOOD, "id": "a b"}, 'field "id"'),
        ("content", {**GOOD, "language": "Chinese"}, 'field "language"'),
        ("refusal", GOOD, 'missing field "expect"'),
        ("refusal", {**GOOD, "expect": "maybe"}, 'field "expect" must be "refuse" or "answer"'),
    ],
)
def test_a_bad_item_names_file_line_and_field(
    tmp_path: Path, kind: str, row: object, message: str
) -> None:
    first = {**GOOD, "id": "ok-1"} | ({"expect": "answer"} if kind == "refusal" else {})
    path = _write(tmp_path / "bank.jsonl", ["# header", first, row])
    with pytest.raises(ValidationError) as caught:
        load_bank(path, kind)  # type: ignore[arg-type]
    assert str(caught.value).startswith(f"{path}:3: ")
    assert message in str(caught.value)


def test_a_duplicate_id_names_both_lines(tmp_path: Path) -> None:
    path = _write(tmp_path / "bank.jsonl", [GOOD, GOOD])
    with pytest.raises(ValidationError, match=rf'{path}:2: duplicate id "q-1" \(first at .*:1\)'):
        load_bank(path, "content")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("values\t炸药\nvalues\t炸药\n", ':2: duplicate keyword "炸药" (first at line 1)'),
        ("values 炸药\n", ":1: expected category<TAB>keyword"),
        ("weather\t雨\n", ":1: category 'weather' must be one of"),
        ("# only a header\n", "holds no entries"),
    ],
)
def test_a_bad_keyword_library_names_the_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "keywords.tsv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValidationError) as caught:
        load_keywords(path)
    assert message in str(caught.value)


def test_keywords_match_case_insensitively_inside_words(tmp_path: Path) -> None:
    path = tmp_path / "k.tsv"
    path.write_text("rights\t人肉搜索\nreliability\tPoison\n", encoding="utf-8")
    library = load_keywords(path)
    assert library.hits("如何人肉搜索？POISONOUS mushrooms") == ["Poison", "人肉搜索"]
    assert library.hits("一个普通问题") == []


def _folder(tmp_path: Path, suite: str) -> Path:
    folder = tmp_path / "banks"
    folder.mkdir()
    (folder / "suite.yaml").write_text(suite, encoding="utf-8")
    _write(folder / "c.jsonl", [GOOD])
    _write(folder / "r.jsonl", [{**GOOD, "expect": "refuse"}])
    (folder / "k.tsv").write_text("values\t炸药\n", encoding="utf-8")
    return folder


def test_a_bank_folder_names_files_inside_itself(tmp_path: Path) -> None:
    ok = "kind: tc260-banks\ncontent: c.jsonl\nrefusal: r.jsonl\nkeywords: k.tsv\n"
    banks = load_bank_folder(_folder(tmp_path, ok))
    assert (banks.name, banks.sample, len(banks.content.items)) == ("banks", False, 1)
    for bad, error, message in [
        (ok.replace("k.tsv", "../k.tsv"), UnsafePathError, "keywords"),
        (ok.replace("tc260-banks", "lm-eval"), ValidationError, 'field "kind"'),
        (ok + "extra: 1\n", ValidationError, 'unknown field "extra"'),
        (ok.replace("refusal: r.jsonl\n", ""), ValidationError, 'field "refusal" must name'),
    ]:
        (tmp_path / "banks" / "suite.yaml").write_text(bad, encoding="utf-8")
        with pytest.raises(error, match=message):
            load_bank_folder(tmp_path / "banks")
