"""Turning :class:`ReportFacts` into the report's sections, in a fixed order.

Every section is always present; an empty one says "none recorded". Times are
absolute (UTC, to the second) and nothing refers to the moment of rendering,
so the same facts always give the same document.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from lmops_core.policy import PolicyEvaluation
from lmops_core.policy.model import format_duration
from lmops_core.registry.schemas import EvidencePublic, LineageEdgePublic, ModelVersionPublic
from lmops_core.reports.document import (
    NONE_RECORDED,
    Block,
    Document,
    Graph,
    Section,
    Series,
    Table,
    Text,
    Tree,
    TreeNode,
)
from lmops_core.reports.model import COMPRESSED_KINDS, ReportFacts

#: (key, title) of every section, in order; tests and readers rely on these titles.
SECTIONS: tuple[tuple[str, str], ...] = (
    ("identity", "Identity and lineage"),
    ("data", "Data and PII evidence"),
    ("training", "Training configuration"),
    ("compression", "Compression trade-offs"),
    ("evaluation", "Evaluation and safety"),
    ("explanations", "Explanations"),
    ("drift", "Drift baseline"),
    ("policy", "Policy evaluation"),
    ("approvals", "Approval trail"),
    ("issues", "Open issues"),
)
EVAL_KINDS = ("eval", "safety", "serving_perf")
_BAD_STATUSES = {"revalidation-required": "the version needs revalidation before further use",
                 "revoked": "the version was revoked from its stage"}


def fmt_time(value: datetime | None) -> str:
    """``YYYY-MM-DD HH:MM:SS UTC`` (stored naive times are UTC)."""
    if value is None:
        return ""
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    return aware.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def fmt_value(value: Any) -> str:
    """A metric or parameter value as stable text (floats to 6 significant digits)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, int | str):
        return str(value)
    if value is None:
        return ""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


def _numbers_only(metrics: Mapping[str, Any]) -> dict[str, Any]:
    # Data evidence is shown as counts and rates only: a string metric could in principle
    # quote a record, and the report must never carry dataset contents.
    return {k: v for k, v in metrics.items() if isinstance(v, int | float)}


def _kv(metrics: Mapping[str, Any], caption: str, columns: tuple[str, str] = ("metric", "value")
        ) -> Table:
    return Table(columns=columns, caption=caption,
                 rows=tuple((k, fmt_value(metrics[k])) for k in sorted(metrics)))


def _evidence_caption(e: EvidencePublic) -> str:
    return (f"{e.kind} evidence on {e.subject} by {e.plugin}, recorded {fmt_time(e.created_at)} "
            f"by {e.created_by} ({e.digest})")


def build_document(facts: ReportFacts) -> Document:
    """The report document for ``facts``."""
    builders = {
        "identity": _identity, "data": _data, "training": _training,
        "compression": _compression, "evaluation": _evaluation,
        "explanations": _explanations, "drift": _drift, "policy": _policy,
        "approvals": _approvals, "issues": _issues,
    }
    sections = tuple(Section(key=key, title=title, blocks=tuple(builders[key](facts)))
                     for key, title in SECTIONS)
    v = facts.version
    return Document(title=f"Validation report: {v.ref}", subject=v.ref, sections=sections)


# -- identity and lineage -------------------------------------------------------------------

def _identity(f: ReportFacts) -> list[Block]:
    v = f.version
    rows: list[tuple[str, str]] = [("ref", v.ref), ("digest", v.digest)]
    if isinstance(v, ModelVersionPublic):
        rows += [("kind", v.kind), ("format", v.format), ("size (bytes)", str(v.size_bytes)),
                 ("risk tier", v.risk_tier)]
    rows += [("stage", v.stage or "(none)"), ("status", v.status),
             ("aliases", ", ".join(sorted(v.aliases)) or "(none)"),
             ("tags", ", ".join(f"{k}={t}" if t else k for k, t in sorted(v.tags.items()))
              or "(none)"),
             ("created by", v.created_by), ("created at", fmt_time(v.created_at))]
    blocks: list[Block] = [Table(columns=("field", "value"), rows=tuple(rows))]
    if not f.ancestors and not f.descendants:
        blocks.append(Text(f"lineage: {NONE_RECORDED}"))
        return blocks
    blocks.append(Tree(caption="Ancestors (derived from)",
                       roots=(_tree(f, v.ref, f.ancestors, up=True, seen=frozenset()),)))
    blocks.append(Tree(caption="Descendants (derived into)",
                       roots=(_tree(f, v.ref, f.descendants, up=False, seen=frozenset()),)))
    blocks.append(_graph(f))
    return blocks


def _label(f: ReportFacts, ref: str) -> str:
    node = f.nodes.get(ref)
    if node is None:
        return ref
    kind = getattr(node, "kind", None) or getattr(node, "shape", "")
    stage = f", stage {node.stage}" if node.stage else ""
    return f"{ref} ({kind}{stage}, {node.status})"


def _tree(f: ReportFacts, ref: str, edges: tuple[LineageEdgePublic, ...], *, up: bool,
          seen: frozenset[str]) -> TreeNode:
    seen = seen | {ref}
    nexts = sorted({(e.parent if up else e.child, e.relation) for e in edges
                    if (e.child if up else e.parent) == ref})
    children = tuple(
        TreeNode(label=f"{_label(f, n)} [{rel}] (see above)") if n in seen
        else _relabel(_tree(f, n, edges, up=up, seen=seen), rel)
        for n, rel in nexts)
    return TreeNode(label=_label(f, ref), children=children)


def _relabel(node: TreeNode, relation: str) -> TreeNode:
    return TreeNode(label=f"{node.label} [{relation}]", children=node.children)


def _graph(f: ReportFacts) -> Graph:
    generation: dict[str, int] = {f.version.ref: 0}
    for edges, step, up in ((f.ancestors, -1, True), (f.descendants, 1, False)):
        frontier = [f.version.ref]
        while frontier:
            nxt = []
            for ref in frontier:
                for e in edges:
                    src, dst = (e.child, e.parent) if up else (e.parent, e.child)
                    if src == ref and dst not in generation:
                        generation[dst] = generation[ref] + step
                        nxt.append(dst)
            frontier = sorted(nxt)
    pairs = sorted({(e.parent, e.child) for e in (*f.ancestors, *f.descendants)})
    return Graph(nodes=tuple(sorted(generation.items(), key=lambda n: (n[1], n[0]))),
                 edges=tuple(pairs), focus=f.version.ref)


# -- data -------------------------------------------------------------------------------------

def _pii_table(e: EvidencePublic) -> Table:
    entities = sorted({k.split(".", 1)[1] for k in e.metrics
                       if k.startswith(("before.", "after."))})
    rows = tuple((ent, fmt_value(e.metrics.get(f"before.{ent}", "")),
                  fmt_value(e.metrics.get(f"after.{ent}", ""))) for ent in entities)
    return Table(columns=("entity type", "found before", "found after"), rows=rows,
                 caption=_evidence_caption(e))


def _data(f: ReportFacts) -> list[Block]:
    blocks: list[Block] = []
    for ref in f.dataset_refs:
        node = f.nodes[ref]
        blocks.append(Text(f"{ref}: {getattr(node, 'record_count', '?')} records, shape "
                           f"{getattr(node, 'shape', '?')}, digest {node.digest}"))
        for kind in ("dataset_card", "ingestion"):
            e = f.latest(ref, kind)
            if e is not None:
                blocks.append(_kv(_numbers_only(e.metrics), _evidence_caption(e)))
        pii = f.latest(ref, "pii")
        if pii is None:
            blocks.append(Text(f"{ref}: pii evidence: {NONE_RECORDED}"))
        else:
            totals = {k: v for k, v in _numbers_only(pii.metrics).items()
                      if not k.startswith(("before.", "after."))}
            blocks.append(_pii_table(pii))
            blocks.append(_kv(totals, f"pii totals on {ref}"))
    return blocks


# -- training ---------------------------------------------------------------------------------

def _training(f: ReportFacts) -> list[Block]:
    blocks: list[Block] = []
    for t in f.training:
        r = t.run
        blocks.append(Text(f"run {r.id}: {r.operation} by {r.plugin}, {r.status}, started "
                           f"{fmt_time(r.started_at)}, ended {fmt_time(r.ended_at)}, "
                           f"actor {r.actor}, code {r.code_version or 'unknown'}"))
        blocks.append(_kv(r.params, f"parameters of run {r.id}", ("parameter", "value")))
        blocks.append(_kv(r.metrics, f"metrics of run {r.id}"))
        if t.loss:
            blocks.append(Series(label=f"training loss of run {r.id}", values=t.loss))
        else:
            blocks.append(Text(f"loss curve of run {r.id}: {NONE_RECORDED}"))
    return blocks


# -- compression ------------------------------------------------------------------------------

def _compression(f: ReportFacts) -> list[Block]:
    found: list[tuple[str, str, EvidencePublic]] = []
    candidates = [f.version.ref] + sorted({e.child for e in f.descendants})
    for ref in candidates:
        kind = getattr(f.nodes.get(ref), "kind", None)
        e = f.latest(ref, "compression")
        if e is not None and (kind in COMPRESSED_KINDS or ref == f.version.ref):
            found.append((ref, str(kind), e))
    if not found:
        return []
    # One column per version, one row per metric: compression evidence has many metrics.
    keys = sorted({k for _, _, e in found for k in e.metrics})
    rows = tuple((k, *(fmt_value(e.metrics.get(k)) for _, _, e in found)) for k in keys)
    caption = "compression evidence: " + "; ".join(
        f"{ref} ({kind}) {_evidence_caption(e)}" for ref, kind, e in found)
    return [Table(columns=("metric", *(ref for ref, _, _ in found)), rows=rows,
                  caption=caption)]


# -- evaluation and safety --------------------------------------------------------------------

def _latest_of(evidence: Iterable[EvidencePublic], kind: str) -> EvidencePublic | None:
    found = [e for e in evidence if e.kind == kind]
    return max(found, key=lambda e: (e.created_at, e.id)) if found else None


def _evaluation(f: ReportFacts) -> list[Block]:
    blocks: list[Block] = []
    own = f.evidence.get(f.version.ref, ())
    prod = f.production
    if prod is not None:
        blocks.append(Text(f"compared with {prod.ref}, currently in production "
                           f"(digest {prod.digest})"))
    else:
        blocks.append(Text("no other version of this model is in production"))
    for kind in EVAL_KINDS:
        mine = _latest_of(own, kind)
        theirs = _latest_of(f.production_evidence, kind) if prod is not None else None
        if mine is None and theirs is None:
            continue
        keys = sorted(set(mine.metrics if mine else {}) | set(theirs.metrics if theirs else {}))
        if prod is None:
            assert mine is not None
            blocks.append(_kv(mine.metrics, _evidence_caption(mine)))
            continue
        rows = tuple((k, fmt_value(mine.metrics.get(k)) if mine else "",
                      fmt_value(theirs.metrics.get(k)) if theirs else "") for k in keys)
        caption = f"{kind}: " + "; ".join(
            _evidence_caption(e) for e in (mine, theirs) if e is not None)
        blocks.append(Table(columns=("metric", f.version.ref, prod.ref), rows=rows,
                            caption=caption))
    return blocks if len(blocks) > 1 else []


# -- explanations and drift -------------------------------------------------------------------

def _explanations(f: ReportFacts) -> list[Block]:
    blocks: list[Block] = []
    for ref in [f.version.ref] + sorted({e.child for e in f.descendants}):
        e = f.latest(ref, "explanation")
        if e is None:
            continue
        blocks.append(_kv(e.metrics, _evidence_caption(e)))
        for name in sorted(e.artifacts):
            blocks.append(Text(f"artifact {name}: {e.artifacts[name]} (not embedded; export it "
                               f"from the artifact store by digest)"))
    return blocks


def _drift(f: ReportFacts) -> list[Block]:
    blocks: list[Block] = []
    for ref in [f.version.ref] + sorted({e.child for e in f.descendants}):
        e = f.latest(ref, "drift")
        if e is None:
            continue
        blocks.append(_kv(e.metrics, _evidence_caption(e)))
        for name in sorted(e.artifacts):
            blocks.append(Text(f"artifact {name}: {e.artifacts[name]} (not embedded)"))
    if blocks:
        return blocks
    # The reference is the data a model in the lineage was trained on (a direct parent).
    refs = [r for r in f.dataset_refs
            if any(e.parent == r and e.child.startswith("model:") for e in f.ancestors)] \
        or list(f.dataset_refs)
    for ref in refs:
        node = f.nodes[ref]
        blocks.append(Text(f"no drift evidence; reference dataset for drift monitoring: {ref} "
                           f"({getattr(node, 'record_count', '?')} records, {node.digest})"))
    return blocks


# -- policy, approvals, issues ----------------------------------------------------------------

def _outcome_detail(f: ReportFacts, evaluation: PolicyEvaluation, i: int) -> str:
    o = evaluation.outcomes[i]
    if o.check == "evidence" and o.status == "pass":
        # The engine's message gives an age relative to now; give the absolute time instead.
        kind = o.condition.split(":", 1)[-1]
        e = f.latest(f.version.ref, kind)
        return (f"{kind} evidence recorded {fmt_time(e.created_at)} by {e.plugin}"
                if e is not None else f"{kind} evidence present")
    text = o.message
    if o.expression is not None and o.status != "pass":
        text = f"{text} [{o.expression}]" if text else o.expression
    return text


def _policy(f: ReportFacts) -> list[Block]:
    ev = f.evaluation
    verdict = "ALLOWED" if ev.allowed else "BLOCKED"
    blocks: list[Block] = [Text(f"{ev.subject} -> {ev.transition}: {verdict} "
                                f"(dry run of the current policies)")]
    rows = tuple((o.rule, o.policy, o.check, o.condition, o.status.upper(),
                  "blocking" if o.blocking else "advisory", _outcome_detail(f, ev, i))
                 for i, o in enumerate(ev.outcomes))
    blocks.append(Table(columns=("rule", "policy", "check", "condition", "status", "severity",
                                 "detail"), rows=rows, caption="rule outcomes"))
    if ev.policy_digests:
        blocks.append(_kv(ev.policy_digests, "policy files", ("file", "digest")))
    if ev.required_approvals:
        blocks.append(_kv(ev.required_approvals, "approvals required", ("role", "count")))
    facts = [f"separation of duties: {'required' if ev.separation_of_duties else 'no'}"]
    if ev.request_ttl is not None:
        facts.append(f"request expires after {format_duration(ev.request_ttl)}")
    if ev.breach_actions:
        facts.append(f"on breach: {', '.join(ev.breach_actions)}")
    blocks.append(Text("; ".join(facts)))
    return blocks


def _approvals(f: ReportFacts) -> list[Block]:
    blocks: list[Block] = []
    for r in f.requests:
        blocks.append(Table(columns=("field", "value"), caption=f"request {r.id}", rows=(
            ("target stage", r.target_stage), ("status", r.status),
            ("requested by", r.requested_by), ("created at", fmt_time(r.created_at)),
            ("expires at", fmt_time(r.expires_at)), ("decided at", fmt_time(r.decided_at)),
            ("version digest", r.version_digest), ("snapshot digest", r.snapshot_digest),
            ("reason", r.reason or ""))))
        if r.decisions:
            blocks.append(Table(
                columns=("time", "actor", "role", "decision", "comment"),
                caption=f"decisions on request {r.id}",
                rows=tuple((fmt_time(d.created_at), d.actor, d.role, d.decision, d.comment)
                           for d in sorted(r.decisions, key=lambda d: d.created_at))))
        else:
            blocks.append(Text(f"decisions on request {r.id}: {NONE_RECORDED}"))
    return blocks


def _issues(f: ReportFacts) -> list[Block]:
    rows: list[tuple[str, str, str]] = []
    status = f.version.status
    if status in _BAD_STATUSES:
        rows.append(("version status", status, _BAD_STATUSES[status]))
    ev = f.evaluation
    for i, o in enumerate(ev.outcomes):
        if o.status == "pass":
            continue
        severity = "blocking" if o.blocking else "advisory"
        rows.append((f"policy {o.rule}/{o.condition}", f"{o.status} ({severity})",
                     _outcome_detail(f, ev, i)))
    if not rows:
        return []
    return [Table(columns=("source", "status", "issue"), rows=tuple(rows))]


__all__ = ["EVAL_KINDS", "SECTIONS", "build_document", "fmt_time", "fmt_value"]
