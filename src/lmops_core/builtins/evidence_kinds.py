"""Evidence kinds the core itself records, declared like any plugin's.

Every kind the core attaches (dataset cards and ingestion reports, manual
validation, accepted pickle files, bundles, annotation and sample review, and the
governance trail: promotion requests, approvals, promotions, revocations,
revalidations) is declared here, so ``lmops policy lint`` accepts policies that name them and
checks the metrics they read.
"""

from __future__ import annotations

from lmops_core.contracts import EvidenceKind, Metric, Register
from lmops_core.hookspecs import hookimpl

DATASET_CARD = EvidenceKind(
    name="dataset_card",
    description="What a dataset version holds: records, shape, lengths, languages, "
    "duplicates, content digest.",
    metrics=[
        Metric("records", "integer", "records", headline=True),
        Metric("duplicates", "integer", "records", "lower", headline=True),
        Metric("chars_mean", "number", "chars"),
        Metric("chars_p95", "number", "chars"),
        Metric("tokens_mean", "number", "tokens"),
        Metric("content_digest", "string"),
        Metric("lang.*", "number", "share", description="share of records per language"),
    ],
)
INGESTION = EvidenceKind(
    name="ingestion",
    description="How a dataset file was ingested: records read, kept, dropped as invalid.",
    metrics=[
        Metric("records_read", "integer", "records", headline=True),
        Metric("records_kept", "integer", "records", headline=True),
        Metric("records_dropped", "integer", "records", "lower", headline=True),
    ],
)
VALIDATION = EvidenceKind(
    name="validation",
    description="An independent validation report attached by a validator.",
)
GUARD_CONFIG = EvidenceKind(
    name="guard_config",
    description="The runtime guard configuration a version is to be served behind (a "
    "GuardConfig file, kept as an artifact), attached by whoever deploys it: whether personal "
    "data in answers is redacted or blocked and how many request categories are refused.",
    metrics=[
        Metric(
            "pii_guard", "boolean", headline=True, description="personal data redacted or blocked"
        ),
        Metric("refusal_categories", "integer", "categories", headline=True),
    ],
)
PICKLE_ALLOWED = EvidenceKind(
    name="pickle_allowed",
    description="Files of a model version that are not an inert format (pickle or unknown), "
    "accepted because someone whose policy allows it passed --allow-pickle.",
    metrics=[Metric("files", "integer", "files", "lower", headline=True)],
)
BUNDLE = EvidenceKind(
    name="bundle",
    description="A signed deployment bundle made of an approved version.",
    metrics=[
        Metric("bundle_digest", "string", headline=True),
        Metric("key_id", "string"),
        Metric("stage", "string", headline=True),
        Metric("request_id", "string"),
        Metric("encrypted", "boolean", headline=True),
        Metric("members", "integer", "files"),
        Metric("size_bytes", "integer", "bytes", "lower"),
    ],
)
PROMOTION_REQUEST = EvidenceKind(
    name="promotion_request",
    description="A request to move a version into a governed stage (policy snapshot in details).",
    metrics=[Metric("to", "string", headline=True), Metric("request_id", "string")],
)
APPROVAL = EvidenceKind(
    name="approval",
    description="A reviewer's signed decision on a promotion request.",
    metrics=[
        Metric("decision", "string", headline=True),
        Metric("role", "string", headline=True),
        Metric("request_id", "string"),
    ],
)
PROMOTION = EvidenceKind(
    name="promotion",
    description="A version entering a governed stage, with the approvals that let it.",
    metrics=[Metric("stage", "string", headline=True), Metric("request_id", "string")],
)
REVOCATION = EvidenceKind(
    name="revocation",
    description="A version revoked from its stage or marked revalidation-required.",
    metrics=[
        Metric("stage", "string", headline=True),
        Metric("by_policy", "boolean", headline=True),
        Metric("action", "string", headline=True),
    ],
)
REVALIDATION = EvidenceKind(
    name="revalidation",
    description="A version revalidated after being marked revalidation-required.",
    metrics=[Metric("since", "string", headline=True)],
)
RETRAINING = EvidenceKind(
    name="retraining",
    description="A version made by the retraining loop: when, after which breach and window, "
    "and how it compares with the version it replaces.",
    metrics=[
        Metric("retrained_on", "string", headline=True),
        Metric("window", "string", headline=True),
        Metric("after", "string", headline=True),
        Metric("request_id", "string"),
        Metric("acc", "number", direction="higher"),
        Metric("production_acc", "number", direction="higher"),
    ],
)

ANNOTATION = EvidenceKind(
    name="annotation",
    description="Who annotated a dataset version and how well they agreed (imported from "
    "Label Studio), and a reviewer's verdicts on a sample of its records.",
    metrics=[
        Metric("type", "string", headline=True, description="labels, preference or rating"),
        Metric("annotators", "integer", "people", headline=True),
        Metric("annotations", "integer", "answers"),
        Metric("records_annotated", "integer", "records"),
        Metric(
            "records_unresolved",
            "integer",
            "records",
            "lower",
            description="records left out: their annotators tied",
        ),
        Metric("records_unannotated", "integer", "records"),
        Metric(
            "agreement",
            "number",
            "kappa",
            "higher",
            headline=True,
            description="Cohen's kappa (two annotators) or Fleiss' kappa (more); "
            "absent when undefined",
        ),
        Metric("agreement_method", "string"),
        Metric("agreement_items", "integer", "records"),
        Metric("review_sampled", "integer", "records"),
        Metric("review_accepted", "integer", "records"),
        Metric("review_rejected", "integer", "records", "lower"),
        Metric(
            "review_acceptance",
            "number",
            "share",
            "higher",
            headline=True,
            description="accepted / sampled, in the sample review",
        ),
        Metric(
            "records_excluded",
            "integer",
            "records",
            "lower",
            description="rejected records left out of this version",
        ),
    ],
)

#: Every kind the core records, in the order they are registered.
CORE_KINDS: tuple[EvidenceKind, ...] = (
    DATASET_CARD,
    INGESTION,
    VALIDATION,
    GUARD_CONFIG,
    PICKLE_ALLOWED,
    BUNDLE,
    PROMOTION_REQUEST,
    APPROVAL,
    PROMOTION,
    REVOCATION,
    REVALIDATION,
    RETRAINING,
    ANNOTATION,
)


@hookimpl(trylast=True)
def register_evidence_kinds(register: Register) -> None:
    """Kinds recorded by the core: data, manual validation, bundles and the governance trail."""
    for kind in CORE_KINDS:
        register(kind)
