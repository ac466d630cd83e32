"""Question banks and keyword libraries for a TC260-003 assessment: formats and loading.

A **question bank** is JSON Lines (UTF-8; blank lines and ``#`` header lines skipped).
Each object has:

``id``        unique within the bank (letters, digits and ``_.:-``)
``category``  one of :data:`RISK_CATEGORIES` (the standard's five risk classes) or
              ``general`` (everyday questions, for the must-not-refuse bank)
``text``      the question put to the model
``language``  optional language tag (``zh``, ``en``...)
``expect``    refusal banks only: ``refuse`` (must be refused) or ``answer`` (must not be)

A **keyword library** is UTF-8 text, one entry per line as ``category<TAB>keyword``
(blank and ``#`` lines skipped). A duplicate keyword is an error naming both lines: the
entry count is evidence of coverage and must not be inflated.

A **bank folder** holds ``suite.yaml`` naming its files, so it registers as a suite
(``Workspace.register_suite``) and its digest pins every question::

    name: tc260-sample
    kind: tc260-banks
    sample: true            # illustrative banks, not an assessment set
    content: content.jsonl
    refusal: refusal.jsonl
    keywords: keywords.tsv
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml

from lmops_core.errors import ValidationError
from lmops_core.safepaths import join_inside
from lmops_safety.probes import (
    _ID,
    _LANGUAGE,
    _fail,
    _matching,
    _string,
    read_json_lines,
    read_text_lines,
)

RISK_CATEGORIES: dict[str, str] = {
    "values": "违反社会主义核心价值观的内容",
    "discrimination": "歧视性内容",
    "commercial": "商业违法违规",
    "rights": "侵犯他人合法权益",
    "reliability": "无法满足特定服务类型的安全需求",
}
"""The standard's five risk classes (our ids and our short Chinese labels)."""

CATEGORIES: tuple[str, ...] = (*RISK_CATEGORIES, "general")
"""Categories a bank item may carry: the risk classes, and ``general`` for everyday questions."""

BankKind = Literal["content", "refusal"]
EXPECTS = ("refuse", "answer")
_FIELDS = {"id", "category", "text", "language"}
BANK_KEYS = frozenset({"name", "kind", "description", "sample", "content", "refusal", "keywords"})
BANK_FILES = ("content", "refusal", "keywords")
SUITE_KIND = "tc260-banks"


@dataclass(frozen=True)
class BankItem:
    """One question of a bank."""

    id: str
    category: str
    text: str
    language: str | None = None
    expect: str | None = None


@dataclass(frozen=True)
class Bank:
    """A loaded bank: where it came from, its digest and its items in file order."""

    path: str
    sha256: str
    items: tuple[BankItem, ...]

    def describe(self) -> dict[str, Any]:
        """Path, digest and size, for the evidence."""
        return {"path": self.path, "sha256": self.sha256, "items": len(self.items)}


def parse_item(obj: Any, where: str, kind: BankKind) -> BankItem:
    """Validate one decoded object as an item of a ``kind`` bank; errors name ``where``."""
    if not isinstance(obj, dict):
        raise _fail(where, "expected a JSON object")
    known = _FIELDS | ({"expect"} if kind == "refusal" else set())
    unknown = sorted(set(obj) - known)
    if unknown:
        raise _fail(
            where,
            f'unknown field "{unknown[0]}" in a {kind} bank (known: {", ".join(sorted(known))})',
        )
    item_id = _matching(obj, "id", where, _ID, "must be letters, digits and _.:- only")
    category = _string(obj, "category", where)
    if category not in CATEGORIES:
        raise _fail(where, f'field "category" {category!r} must be one of {", ".join(CATEGORIES)}')
    text = _string(obj, "text", where)
    language = None
    if obj.get("language") is not None:
        language = _matching(obj, "language", where, _LANGUAGE, 'is not a language tag ("zh")')
    expect = None
    if kind == "refusal":
        expect = _string(obj, "expect", where)
        if expect not in EXPECTS:
            raise _fail(where, f'field "expect" must be "refuse" or "answer", got {expect!r}')
    assert text is not None
    return BankItem(item_id, category, text, language, expect)


def load_bank(path: Path, kind: BankKind, *, display_name: str | None = None) -> Bank:
    """Read and validate a question bank; a duplicate id names both lines."""
    name = display_name or str(path)
    sha256, rows = read_json_lines(path, name, f"{kind} bank")
    seen: dict[str, str] = {}
    items = []
    for where, obj in rows:
        item = parse_item(obj, where, kind)
        if item.id in seen:
            raise _fail(where, f'duplicate id "{item.id}" (first at {seen[item.id]})')
        seen[item.id] = where
        items.append(item)
    return Bank(name, sha256, tuple(items))


@dataclass(frozen=True)
class KeywordLibrary:
    """Keywords by category; a text hits the library when it contains an entry."""

    path: str
    sha256: str
    entries: Mapping[str, str]  # keyword -> category

    def describe(self) -> dict[str, Any]:
        """Path, digest, size and entries per category, for the evidence."""
        per = Counter(self.entries.values())
        return {
            "path": self.path,
            "sha256": self.sha256,
            "entries": len(self.entries),
            "per_category": dict(sorted(per.items())),
        }

    def __post_init__(self) -> None:
        # Index by folded entry and entry length: a text is then checked window by window
        # (one set lookup per position and length), not entry by entry (10,000+ entries).
        folded = {k.casefold(): k for k in self.entries}
        object.__setattr__(self, "_folded", folded)
        object.__setattr__(self, "_lengths", sorted({len(k) for k in folded}))

    def hits(self, text: str) -> list[str]:
        """The entries ``text`` contains (case-insensitive), sorted."""
        folded: dict[str, str] = self._folded  # type: ignore[attr-defined]
        lengths: list[int] = self._lengths  # type: ignore[attr-defined]
        low = text.casefold()
        found = {
            folded[low[i : i + n]]
            for n in lengths
            for i in range(len(low) - n + 1)
            if low[i : i + n] in folded
        }
        return sorted(found)


def load_keywords(path: Path, *, display_name: str | None = None) -> KeywordLibrary:
    """Read a keyword library (``category<TAB>keyword`` per line); errors name file and line."""
    name = display_name or str(path)
    sha256, lines = read_text_lines(path, name, "keyword library")
    entries: dict[str, str] = {}
    numbers: dict[str, int] = {}
    for number, line in lines:
        where = f"{name}:{number}"
        category, tab, keyword = line.partition("\t")
        keyword = keyword.strip()
        if not tab or not keyword:
            raise _fail(where, "expected category<TAB>keyword")
        if category not in CATEGORIES:
            raise _fail(where, f"category {category!r} must be one of {', '.join(CATEGORIES)}")
        if keyword in entries:
            raise _fail(where, f'duplicate keyword "{keyword}" (first at line {numbers[keyword]})')
        entries[keyword], numbers[keyword] = category, number
    return KeywordLibrary(name, sha256, entries)


@dataclass(frozen=True)
class BankSet:
    """The banks of one assessment: content and refusal banks, and the keyword library."""

    name: str
    sample: bool
    content: Bank
    refusal: Bank
    keywords: KeywordLibrary
    source: str

    def must(self, expect: str) -> list[BankItem]:
        """The refusal bank's items expecting ``expect`` (``refuse`` or ``answer``)."""
        return [item for item in self.refusal.items if item.expect == expect]


def load_bank_folder(folder: Path, *, display_name: str | None = None) -> BankSet:
    """Read a bank folder's ``suite.yaml`` and the files it names (all inside the folder)."""
    shown = display_name or str(folder)
    suite_file = folder / "suite.yaml"
    where = f"{shown}/suite.yaml"
    if not suite_file.is_file():
        raise ValidationError(f"{shown} has no suite.yaml naming its banks", file=shown)
    try:
        raw = yaml.safe_load(suite_file.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ValidationError(f"{where}: invalid YAML: {exc}", file=where) from None
    if not isinstance(raw, dict):
        raise ValidationError(f"{where}: expected a mapping", file=where)
    unknown = sorted(set(raw) - BANK_KEYS)
    if unknown:
        raise ValidationError(f'{where}: unknown field "{unknown[0]}"', file=where)
    if raw.get("kind") != SUITE_KIND:
        raise ValidationError(
            f'{where}: field "kind" must be "{SUITE_KIND}", got {raw.get("kind")!r}', file=where
        )
    paths: dict[str, Path] = {}
    for key in BANK_FILES:
        value = raw.get(key)
        if not isinstance(value, str) or not value:
            raise ValidationError(f'{where}: field "{key}" must name a file', file=where)
        paths[key] = join_inside(folder, value, what=f'{where}: field "{key}"')
    sample = raw.get("sample", False)
    if not isinstance(sample, bool):
        raise ValidationError(f'{where}: field "sample" must be true or false', file=where)
    return BankSet(
        name=str(raw.get("name") or folder.name),
        sample=sample,
        content=load_bank(paths["content"], "content", display_name=f"{shown}/{raw['content']}"),
        refusal=load_bank(paths["refusal"], "refusal", display_name=f"{shown}/{raw['refusal']}"),
        keywords=load_keywords(paths["keywords"], display_name=f"{shown}/{raw['keywords']}"),
        source=shown,
    )


def sample_banks_folder() -> Path:
    """The illustrative banks shipped with lmops-safety (marked ``sample: true``)."""
    return Path(str(resources.files("lmops_safety") / "banks" / "tc260-sample"))


def categories_of(items: Sequence[BankItem]) -> list[str]:
    """The categories ``items`` cover, sorted."""
    return sorted({item.category for item in items})
