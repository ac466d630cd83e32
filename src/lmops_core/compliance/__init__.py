"""Compliance packs: a named standard's clauses mapped to policy rules, and their report.

A pack file (``policies/packs/*.yaml``, or shipped by a plugin through
``register_compliance_packs``) carries ordinary policy rules and the clauses of
a standard, each naming the rules that show it is met. ``lint_pack`` checks the
mapping; ``render_pack_report`` judges a version against every clause (met, not
met, not evidenced) and writes a deterministic report in the pack's language.
``derive_facts`` computes what no plugin records (the audit log verified, the
training data described and scanned), judged beside the recorded evidence.
"""

from lmops_core.compliance.facts import DERIVED_BY, DERIVED_KINDS, DerivedFact, derive_facts
from lmops_core.compliance.loader import CompliancePack, lint_pack, load_pack, read_pack
from lmops_core.compliance.model import (
    Clause,
    PackDocument,
    pack_json_schema,
    render_pack_schema,
    write_pack_schema,
)
from lmops_core.compliance.report import PackReport, build_pack_document, render_pack_report
from lmops_core.compliance.sources import PACKS_FOLDER, find_pack, installed_packs, pack_sources
from lmops_core.compliance.verdict import ClauseStatus, ClauseVerdict, judge_pack

__all__ = [
    "DERIVED_BY",
    "DERIVED_KINDS",
    "PACKS_FOLDER",
    "Clause",
    "ClauseStatus",
    "ClauseVerdict",
    "CompliancePack",
    "DerivedFact",
    "PackDocument",
    "PackReport",
    "build_pack_document",
    "derive_facts",
    "find_pack",
    "installed_packs",
    "judge_pack",
    "lint_pack",
    "load_pack",
    "pack_json_schema",
    "pack_sources",
    "read_pack",
    "render_pack_report",
    "render_pack_schema",
    "write_pack_schema",
]
