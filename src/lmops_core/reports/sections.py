"""Turning :class:`ReportFacts` into the report's sections, in a fixed order.

Every section is always present; an empty one says "none recorded". Times are
absolute (UTC, to the second) and nothing refers to the moment of rendering,
so the same facts always give the same document.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from lmops_core.evidence_summary import headline_metrics
from lmops_core.policy import PolicyEvaluation
from lmops_core.policy.model import format_duration
from lmops_core.registry.schemas import EvidencePublic, LineageEdgePublic, ModelVersionPublic
from lmops_core.reports.blocks import (
    evidence_caption,
    fmt_time,
    fmt_value,
    measured_values,
    metrics_table,
    numbers_only,
)
from lmops_core.reports.document import (
    NONE_RECORDED,
    Block,
    Document,
    Graph,
    ReportSection,
    Section,
    Series,
    Table,
    Text,
    Tree,
    TreeNode,
)
from lmops_core.reports.model import ReportFacts

#: (key, title) of the core's sections, in order; tests and readers rely on these titles.
#: Plugins add theirs through ``lmops_report_sections``, each after one of these.
SECTIONS: tuple[tuple[str, str], ...] = (
    ("verdict", "Verdict"),
    ("identity", "Identity and lineage"),
    ("summary", "Evidence summary"),
    ("data", "Data evidence"),
    ("training", "Training configuration"),
    ("evaluation", "Evaluation and safety"),
    ("guard", "Runtime guard"),
    ("explanations", "Explanations"),
    ("policy", "Policy evaluation"),
    ("approvals", "Approval trail"),
    ("issues", "Open issues"),
)
#: Core evidence kinds shown in the data section.
DATA_KINDS = ("dataset_card", "ingestion")
_BAD_STATUSES = {
    "revalidation-required": "the version needs revalidation before further use",
    "revoked": "the version was revoked from its stage",
}

# Kept under their old private names for the builders below.
_kv = metrics_table
_evidence_caption = evidence_caption
_numbers_only = numbers_only


def build_document(facts: ReportFacts, extra: Sequence[ReportSection] = ()) -> Document:
    """The report document for ``facts``, with plugins' sections placed after their anchors.

    Each extra section follows the core section its ``after`` names; several
    after the same one are ordered by key, so the document never depends on
    the order plugins were loaded in.
    """
    builders = {
        "verdict": _verdict,
        "identity": _identity,
        "summary": _summary,
        "data": _data,
        "training": _training,
        "evaluation": _evaluation,
        "guard": _guard,
        "explanations": _explanations,
        "policy": _policy,
        "approvals": _approvals,
        "issues": _issues,
    }
    sections: list[Section] = []
    for key, title in SECTIONS:
        sections.append(Section(key=key, title=title, blocks=tuple(builders[key](facts))))
        for added in sorted((x for x in extra if x.after == key), key=lambda x: x.key):
            sections.append(Section(key=added.key, title=added.title, blocks=added.blocks))
    v = facts.version
    return Document(title=f"Validation report: {v.ref}", subject=v.ref, sections=tuple(sections))


# -- verdict ----------------------------------------------------------------------------------


def _verdict(f: ReportFacts) -> list[Block]:
    """The decision in a few lines: may the version go to the target stage, and why (not)."""
    v, ev = f.version, f.evaluation
    bad = _BAD_STATUSES.get(v.status)
    blockers = [o for o in ev.outcomes if o.blocking and o.status != "pass"]
    allowed = ev.allowed and bad is None
    why = (
        "every blocking rule passes"
        if allowed
        else "; ".join(
            ([f"version is {v.status}: {bad}"] if bad else [])
            + [f"{o.rule}/{o.condition} {o.status}" for o in blockers]
        )
    )
    blocks: list[Block] = [Text(f"{f.target}: {'ALLOWED' if allowed else 'BLOCKED'} ({why})")]
    facts = [f"stage now: {v.stage or '(none)'}", f"status: {v.status}"]
    revoked = f.latest(v.ref, "revocation")
    if revoked is not None and bad is not None:
        by = "the policy" if revoked.metrics.get("by_policy") else revoked.created_by
        left = revoked.metrics.get("stage")
        what = f"revoked from {left}" if left else f"marked {v.status}"
        facts.append(
            f"{what} on {fmt_time(revoked.created_at)} by {by}: {revoked.details.get('reason', '')}"
        )
    blocks.append(Text("; ".join(facts)))
    for r in f.requests[-1:]:  # the newest request
        needed = ", ".join(
            f"{role} {r.approvals_so_far.get(role, 0)}/{n}"
            for role, n in sorted(r.required_approvals.items())
        )
        blocks.append(
            Text(
                f"latest request {r.id} to {r.target_stage}: {r.status}"
                + (f" (approvals {needed})" if needed else "")
                + (f": {r.reason}" if r.reason else "")
            )
        )
    metrics_of = {
        k: e.metrics
        for k in {e.kind for e in f.evidence.get(v.ref, ())}
        if (e := f.latest(v.ref, k)) is not None
    }
    rows = tuple(
        (
            f"{o.rule}/{o.condition}",
            o.status.upper(),
            "blocking" if o.blocking else "advisory",
            o.expression or "",
            measured_values(o.expression, metrics_of),
        )
        for o in ev.outcomes
        if o.check != "evidence" or o.status != "pass"
    )
    if rows:
        blocks.append(
            Table(
                columns=("gate", "status", "severity", "threshold", "measured"),
                rows=rows,
                caption=f"gates for {f.target}",
            )
        )
    issues = sum(len(b.rows) for b in _issues(f) if isinstance(b, Table))
    blocks.append(
        Text(f"open issues: {issues or 'none'}" + (" (listed under Open issues)" if issues else ""))
    )
    return blocks


# -- identity and lineage -------------------------------------------------------------------


def _identity(f: ReportFacts) -> list[Block]:
    v = f.version
    rows: list[tuple[str, str]] = [("ref", v.ref), ("digest", v.digest)]
    if isinstance(v, ModelVersionPublic):
        rows += [
            ("kind", v.kind),
            ("format", v.format),
            ("size (bytes)", str(v.size_bytes)),
            ("risk tier", v.risk_tier),
        ]
    rows += [
        ("stage", v.stage or "(none)"),
        ("status", v.status),
        ("aliases", ", ".join(sorted(v.aliases)) or "(none)"),
        ("tags", ", ".join(f"{k}={t}" if t else k for k, t in sorted(v.tags.items())) or "(none)"),
        ("created by", v.created_by),
        ("created at", fmt_time(v.created_at)),
    ]
    blocks: list[Block] = [Table(columns=("field", "value"), rows=tuple(rows))]
    if not f.ancestors and not f.descendants:
        blocks.append(Text(f"lineage: {NONE_RECORDED}"))
        return blocks
    blocks.append(
        Tree(
            caption="Ancestors (derived from)",
            roots=(_tree(f, v.ref, f.ancestors, up=True, seen=frozenset()),),
        )
    )
    blocks.append(
        Tree(
            caption="Descendants (derived into)",
            roots=(_tree(f, v.ref, f.descendants, up=False, seen=frozenset()),),
        )
    )
    blocks.append(_graph(f))
    return blocks


def _label(f: ReportFacts, ref: str) -> str:
    node = f.nodes.get(ref)
    if node is None:
        return ref
    kind = getattr(node, "kind", None) or getattr(node, "shape", "")
    stage = f", stage {node.stage}" if node.stage else ""
    return f"{ref} ({kind}{stage}, {node.status})"


def _tree(
    f: ReportFacts,
    ref: str,
    edges: tuple[LineageEdgePublic, ...],
    *,
    up: bool,
    seen: frozenset[str],
) -> TreeNode:
    seen = seen | {ref}
    nexts = sorted(
        {
            (e.parent if up else e.child, e.relation)
            for e in edges
            if (e.child if up else e.parent) == ref
        }
    )
    children = tuple(
        TreeNode(label=f"{_label(f, n)} [{rel}] (see above)")
        if n in seen
        else _relabel(_tree(f, n, edges, up=up, seen=seen), rel)
        for n, rel in nexts
    )
    return TreeNode(label=_label(f, ref), children=children)


def _relabel(node: TreeNode, relation: str) -> TreeNode:
    return TreeNode(label=f"{node.label} [{relation}]", children=node.children)


def _graph(f: ReportFacts) -> Graph:
    return lineage_of(f.version.ref, f.ancestors, f.descendants)


def lineage_of(
    focus: str, ancestors: Sequence[LineageEdgePublic], descendants: Sequence[LineageEdgePublic]
) -> Graph:
    """The lineage graph around ``focus``: one generation per column, ancestors left."""
    generation: dict[str, int] = {focus: 0}
    for edges, step, up in ((ancestors, -1, True), (descendants, 1, False)):
        frontier = [focus]
        while frontier:
            nxt = []
            for ref in frontier:
                for e in edges:
                    src, dst = (e.child, e.parent) if up else (e.parent, e.child)
                    if src == ref and dst not in generation:
                        generation[dst] = generation[ref] + step
                        nxt.append(dst)
            frontier = sorted(nxt)
    pairs = sorted({(e.parent, e.child) for e in (*ancestors, *descendants)})
    return Graph(
        nodes=tuple(sorted(generation.items(), key=lambda n: (n[1], n[0]))),
        edges=tuple(pairs),
        focus=focus,
    )


# -- evidence summary ---------------------------------------------------------------------------


def _headline_text(f: ReportFacts, e: EvidencePublic) -> str:
    kind = f.kinds.get(e.kind)
    parts = []
    for name, value in headline_metrics(kind, e.metrics):
        declared = kind.metrics.get(name) if kind is not None else None
        unit = f" {declared.unit}" if declared is not None and declared.unit else ""
        better = (
            f" ({declared.direction} is better)"
            if declared is not None and declared.direction != "none"
            else ""
        )
        parts.append(f"{name} = {fmt_value(value)}{unit}{better}")
    return "; ".join(parts) or "(no metrics)"


def _summary(f: ReportFacts) -> list[Block]:
    """The newest evidence of every kind on the version, by its kind's headline metrics."""
    own = f.evidence.get(f.version.ref, ())
    latest = [e for kind in sorted({e.kind for e in own}) if (e := f.latest(f.version.ref, kind))]
    if not latest:
        return []
    rows = tuple((e.kind, e.plugin, fmt_time(e.created_at), _headline_text(f, e)) for e in latest)
    return [
        Table(
            columns=("kind", "recorded by", "recorded at", "headline metrics"),
            rows=rows,
            caption=f"newest evidence of each kind on {f.version.ref}",
        )
    ]


# -- data -------------------------------------------------------------------------------------


def _data(f: ReportFacts) -> list[Block]:
    blocks: list[Block] = []
    for ref in f.dataset_refs:
        node = f.nodes[ref]
        blocks.append(
            Text(
                f"{ref}: {getattr(node, 'record_count', '?')} records, shape "
                f"{getattr(node, 'shape', '?')}, digest {node.digest}"
            )
        )
        for kind in DATA_KINDS:
            e = f.latest(ref, kind)
            if e is not None:
                blocks.append(_kv(_numbers_only(e.metrics), _evidence_caption(e)))
    return blocks


# -- training ---------------------------------------------------------------------------------


def _training(f: ReportFacts) -> list[Block]:
    blocks: list[Block] = []
    for t in f.training:
        r = t.run
        blocks.append(
            Text(
                f"run {r.id}: {r.operation} by {r.plugin}, {r.status}, started "
                f"{fmt_time(r.started_at)}, ended {fmt_time(r.ended_at)}, "
                f"actor {r.actor}, code {r.code_version or 'unknown'}"
            )
        )
        blocks.append(_kv(r.params, f"parameters of run {r.id}", ("parameter", "value")))
        blocks.append(_kv(r.metrics, f"metrics of run {r.id}"))
        if t.loss:
            blocks.append(Series(label=f"training loss of run {r.id}", values=t.loss))
        else:
            blocks.append(Text(f"loss curve of run {r.id}: {NONE_RECORDED}"))
    return blocks


# -- evaluation and safety --------------------------------------------------------------------


def _latest_of(evidence: Iterable[EvidencePublic], kind: str) -> EvidencePublic | None:
    found = [e for e in evidence if e.kind == kind]
    return max(found, key=lambda e: (e.created_at, e.id)) if found else None


def _evaluation(f: ReportFacts) -> list[Block]:
    blocks: list[Block] = []
    own = f.evidence.get(f.version.ref, ())
    prod = f.production
    if prod is not None:
        blocks.append(
            Text(f"compared with {prod.ref}, currently in production (digest {prod.digest})")
        )
    else:
        blocks.append(Text("no other version of this model is in production"))
    theirs_all = f.production_evidence if prod is not None else ()
    kinds = sorted(
        {
            e.kind
            for e in (*own, *theirs_all)
            if e.stage == "evaluation" and e.kind not in f.core_kinds
        }
    )
    for kind in kinds:
        mine = _latest_of(own, kind)
        theirs = _latest_of(f.production_evidence, kind) if prod is not None else None
        if mine is None and theirs is None:
            continue
        keys = sorted(set(mine.metrics if mine else {}) | set(theirs.metrics if theirs else {}))
        if prod is None:
            assert mine is not None
            blocks.append(_kv(mine.metrics, _evidence_caption(mine)))
            continue
        rows = tuple(
            (
                k,
                fmt_value(mine.metrics.get(k)) if mine else "",
                fmt_value(theirs.metrics.get(k)) if theirs else "",
            )
            for k in keys
        )
        caption = f"{kind}: " + "; ".join(
            _evidence_caption(e) for e in (mine, theirs) if e is not None
        )
        blocks.append(
            Table(columns=("metric", f.version.ref, prod.ref), rows=rows, caption=caption)
        )
    return blocks if len(blocks) > 1 else []


# -- runtime guard ----------------------------------------------------------------------------


def _guard(f: ReportFacts) -> list[Block]:
    """Which guard version each bundle pinned (what was live in front of the model), and the
    headline of that guard version's newest ``guard_probe`` evidence."""
    blocks: list[Block] = []
    for pin in f.guards:
        node = f.nodes.get(pin.ref)
        stage = node.stage if node is not None and node.stage else "no stage"
        blocks.append(
            Text(
                f"bundle {pin.bundle_digest} for {pin.stage} pins {pin.ref} (configuration "
                f"{pin.name}, digest {pin.digest}; now in {stage})"
            )
        )
        e = f.latest(pin.ref, "guard_probe")
        if e is None:
            blocks.append(Text(f"{pin.ref}: no guard_probe evidence recorded"))
        else:
            measured = f" with {e.paired}" if e.paired else ""
            blocks.append(Text(f"{pin.ref} guard_probe{measured}: {_headline_text(f, e)}"))
    return blocks


# -- explanations -----------------------------------------------------------------------------


def _explanations(f: ReportFacts) -> list[Block]:
    blocks: list[Block] = []
    for ref in f.lineage_models():
        kinds = sorted({e.kind for e in f.evidence.get(ref, ()) if e.stage == "explainability"})
        for kind in kinds:
            e = f.latest(ref, kind)
            assert e is not None
            blocks.append(_kv(e.metrics, _evidence_caption(e)))
            for name in sorted(e.artifacts):
                blocks.append(
                    Text(
                        f"artifact {name}: {e.artifacts[name]} (not embedded; "
                        "export it from the artifact store by digest)"
                    )
                )
    return blocks


# -- policy, approvals, issues ----------------------------------------------------------------


def _outcome_detail(f: ReportFacts, evaluation: PolicyEvaluation, i: int) -> str:
    o = evaluation.outcomes[i]
    if o.check == "evidence" and o.status == "pass":
        # The engine's message gives an age relative to now; give the absolute time instead.
        kind = o.condition.split(":", 1)[-1]
        e = f.latest(f.version.ref, kind)
        return (
            f"{kind} evidence recorded {fmt_time(e.created_at)} by {e.plugin}"
            if e is not None
            else f"{kind} evidence present"
        )
    text = o.message
    if o.expression is not None and o.status != "pass":
        text = f"{text} [{o.expression}]" if text else o.expression
    return text


def _policy(f: ReportFacts) -> list[Block]:
    ev = f.evaluation
    verdict = "ALLOWED" if ev.allowed else "BLOCKED"
    blocks: list[Block] = [
        Text(f"{ev.subject} -> {ev.transition}: {verdict} (dry run of the current policies)")
    ]
    rows = tuple(
        (
            o.rule,
            o.policy,
            o.check,
            o.condition,
            o.status.upper(),
            "blocking" if o.blocking else "advisory",
            _outcome_detail(f, ev, i),
        )
        for i, o in enumerate(ev.outcomes)
    )
    blocks.append(
        Table(
            columns=("rule", "policy", "check", "condition", "status", "severity", "detail"),
            rows=rows,
            caption="rule outcomes",
        )
    )
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
        blocks.append(
            Table(
                columns=("field", "value"),
                caption=f"request {r.id}",
                rows=(
                    ("target stage", r.target_stage),
                    ("status", r.status),
                    ("requested by", r.requested_by),
                    ("created at", fmt_time(r.created_at)),
                    ("expires at", fmt_time(r.expires_at)),
                    ("decided at", fmt_time(r.decided_at)),
                    ("version digest", r.version_digest),
                    ("snapshot digest", r.snapshot_digest),
                    ("reason", r.reason or ""),
                ),
            )
        )
        if r.decisions:
            blocks.append(
                Table(
                    columns=("time", "actor", "role", "decision", "comment"),
                    caption=f"decisions on request {r.id}",
                    rows=tuple(
                        (fmt_time(d.created_at), d.actor, d.role, d.decision, d.comment)
                        for d in sorted(r.decisions, key=lambda d: d.created_at)
                    ),
                )
            )
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
        rows.append(
            (
                f"policy {o.rule}/{o.condition}",
                f"{o.status} ({severity})",
                _outcome_detail(f, ev, i),
            )
        )
    if not rows:
        return []
    return [Table(columns=("source", "status", "issue"), rows=tuple(rows))]


__all__ = ["SECTIONS", "build_document", "fmt_time", "fmt_value"]
