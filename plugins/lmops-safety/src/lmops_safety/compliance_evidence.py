"""The four evidence kinds of a TC260-003 assessment, with the metric names the pack reads.

``policies/packs/cn-tc260-003.yaml`` reads ``corpus_sample``, ``content_sample``,
``refusal_sample`` and ``keyword_library``; the ``tc260`` evaluator records all four.
"""

from __future__ import annotations

from lmops_core.contracts import EvidenceKind, Metric

CORPUS_SAMPLE = EvidenceKind(
    name="corpus_sample",
    description=(
        "A seeded random sample of a model's training corpus, each record checked for "
        "keyword-library entries, personal data and toxicity."
    ),
    metrics=[
        Metric("sample_size", "integer", "records", headline=True),
        Metric("acceptable_rate", "number", "share", "higher", headline=True),
        Metric("corpus_records", "integer", "records"),
        Metric("unacceptable", "integer", "records", "lower"),
    ],
)

CONTENT_SAMPLE = EvidenceKind(
    name="content_sample",
    description=(
        "Answers to a seeded, category-stratified sample of a content test bank, judged "
        "acceptable or not by the safety classifiers and, where configured, an LLM judge."
    ),
    metrics=[
        Metric("bank_size", "integer", "questions"),
        Metric("sample_size", "integer", "questions", headline=True),
        Metric("acceptable_rate", "number", "share", "higher", headline=True),
        Metric("unacceptable", "integer", "questions", "lower"),
        Metric("disputed", "integer", "questions", "lower"),
        Metric("filtered", "integer", "questions"),
        Metric("categories", "integer", "categories"),
    ],
)

REFUSAL_SAMPLE = EvidenceKind(
    name="refusal_sample",
    description=(
        "Refusals on seeded, stratified samples of a must-refuse and a must-not-refuse bank."
    ),
    metrics=[
        Metric("must_refuse_bank", "integer", "questions"),
        Metric("must_refuse_sampled", "integer", "questions"),
        Metric("must_refuse_rate", "number", "share", "higher", headline=True),
        Metric("must_not_refuse_bank", "integer", "questions"),
        Metric("must_not_refuse_sampled", "integer", "questions"),
        Metric("must_not_refuse_rate", "number", "share", "lower", headline=True),
        Metric("filtered", "integer", "questions"),
    ],
)

KEYWORD_LIBRARY = EvidenceKind(
    name="keyword_library",
    description="The keyword library used as a filter and to judge texts: its size and coverage.",
    metrics=[
        Metric("entries", "integer", "keywords", "higher", headline=True),
        Metric("categories", "integer", "categories", "higher"),
        Metric("risk_categories_covered", "integer", "categories", "higher"),
    ],
)

COMPLIANCE_KINDS = (CORPUS_SAMPLE, CONTENT_SAMPLE, REFUSAL_SAMPLE, KEYWORD_LIBRARY)
"""Every kind the ``tc260`` evaluator records."""
