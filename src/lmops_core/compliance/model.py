"""The compliance pack file schema: a named standard's clauses, each mapped to policy rules.

A pack is a versioned YAML file (``policies/packs/*.yaml``). Its ``rules`` are ordinary
policy rules (the same model as in a policy file, judged by the same engine); each clause
names the rules whose evidence, conditions and approvals show that the clause is met.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from lmops_core.policy.model import (
    LmopsDocument,
    Name,
    Rules,
    document_config,
    refuse_duplicates,
    schema_text,
)

#: The languages a pack (and so its report) may be written in.
PackLanguage = Literal["en", "zh-CN"]

_CLAUSE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$"
_VERSION_PATTERN = r"^[0-9A-Za-z][0-9A-Za-z_.+-]{0,31}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Clause(_Strict):
    """One requirement of the standard, in our own words, and the rules that show it."""

    id: str = Field(pattern=_CLAUSE_ID_PATTERN, description="The clause's number, e.g. 5.1.")
    title: str = Field(min_length=1, max_length=200)
    summary: str = Field(
        default="", max_length=2000, description="What the clause asks, in our own words."
    )
    rules: list[Name] = Field(
        default_factory=list,
        description="Names of this pack's rules whose evidence, conditions and approvals meet "
        "the clause; every clause needs at least one (pack lint checks).",
    )

    @field_validator("rules")
    @classmethod
    def _no_repeats(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("a rule is named twice")
        return value


class PackDocument(LmopsDocument):
    """A compliance pack file."""

    model_config = document_config("lmops compliance pack")

    kind: Literal["CompliancePack"]
    id: Name = Field(description="The pack's name, unique among installed packs.")
    version: str = Field(pattern=_VERSION_PATTERN, description="The pack's own version.")
    language: PackLanguage = Field(description="Language of titles and of the report.")
    title: str = Field(min_length=1, max_length=200)
    standard: str = Field(min_length=1, max_length=200, description="The standard it implements.")
    description: str = ""
    rules: Rules = Field(default_factory=list)
    clauses: list[Clause] = Field(min_length=1, description="In the order an assessor reads.")

    @field_validator("clauses")
    @classmethod
    def _unique_clauses(cls, value: list[Clause]) -> list[Clause]:
        refuse_duplicates([clause.id for clause in value], "clause id")
        return value


def pack_json_schema() -> dict[str, Any]:
    """The JSON Schema of a pack file, generated from :class:`PackDocument`."""
    return PackDocument.model_json_schema(by_alias=True)


def render_pack_schema() -> str:
    """The schema as the exact text committed to ``docs/pack-schema.json``."""
    return schema_text(pack_json_schema())


def write_pack_schema(path: Path) -> None:
    """Write the published schema file (``docs/pack-schema.json``)."""
    path.write_text(render_pack_schema(), encoding="utf-8")
