"""Benchmark of lmops-presidio's ``pii-redact`` step against a plain presidio loop.

Generates N labelled synthetic instruction records (seeded), then in the same
run measures records/s of

* the plain loop: for every text field, ``AnalyzerEngine.analyze`` (presidio's
  stock spaCy NLP engine, full pipeline, same model and same recognizers and
  thresholds) followed by ``AnonymizerEngine.anonymize``;
* our step (``PiiRedactionStep.run`` on a real StageContext), for each
  ``--workers`` value; it also re-scans what it redacted, the plain loop does not.

It then prints precision and recall per entity type, on the labelled set, for
the plain loop's analyzer and for our guard (the code path the step runs).

    .venv/bin/python benchmarks/bench_presidio.py --records 5000
    .venv/bin/python benchmarks/bench_presidio.py --records 100000 --baseline-records 5000

``--baseline-records`` runs the (slow) plain loop on the first M records only;
its rate is still records/s, and precision/recall of both are compared on
those M records.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lmops_presidio.checksums import card_network
from lmops_presidio.config import GuardConfig
from lmops_presidio.evaluation import Score
from lmops_presidio.step import PiiRedactionStep

from lmops_core.contracts import NullProgress, Stage, StageContext
from lmops_core.testing import dataset_input

# presidio, spaCy (and through them torch) are imported inside the functions
# that use them: the step's spawned workers re-import this script, and its
# top level must stay light for their start-up to be cheap.
if TYPE_CHECKING:
    from presidio_analyzer import AnalyzerEngine, RecognizerResult

FIELDS = ("system", "prompt", "response")
# --------------------------------------------------------------------------
# Synthetic labelled data
# --------------------------------------------------------------------------

LOCALES = ("en-US", "en-GB", "zh-CN")
"""What the synthetic dataset declares: US and UK phone numbers, mainland-China text."""

FIRST = [
    "James",
    "Maria",
    "Wei",
    "Aisha",
    "Carlos",
    "Emily",
    "Hans",
    "Priya",
    "Olga",
    "Kenji",
    "Fatima",
    "Lucas",
    "Sofia",
    "Ahmed",
    "Chloe",
    "Ivan",
    "Mei",
    "Daniel",
    "Amara",
    "Liam",
]
LAST = [
    "Smith",
    "Garcia",
    "Zhang",
    "Khan",
    "Muller",
    "Brown",
    "Patel",
    "Rossi",
    "Novak",
    "Tanaka",
    "Okafor",
    "Silva",
    "Johnson",
    "Haddad",
    "Dubois",
    "Petrov",
    "Chen",
    "Wilson",
    "Mensah",
    "Kim",
]
CITIES = [
    "Paris",
    "Berlin",
    "Chicago",
    "Shanghai",
    "Madrid",
    "Toronto",
    "Nairobi",
    "Sydney",
    "Boston",
    "Mumbai",
    "London",
    "Tokyo",
    "Lisbon",
    "Seattle",
    "Cairo",
    "Beijing",
    "Denver",
    "Rome",
]
COUNTRIES = ["France", "Germany", "Kenya", "Brazil", "Canada", "Japan", "India", "Spain"]
DOMAINS = [
    "example.com",
    "mail.example.org",
    "corp.example.net",
    "uni.example.edu",
    "example.co.uk",
]
SYSTEMS = [
    "You are a helpful assistant.",
    "You are a concise assistant. Answer in plain English.",
    "You are a customer-support agent for an online shop. Be polite and precise.",
    "You are a careful assistant that never shares personal data.",
]
GENERIC = [
    "Explain how photosynthesis works in simple terms.",
    "Write a short poem about the sea at night.",
    "What are the main differences between lists and tuples in Python?",
    "Summarise the causes of the industrial revolution in three sentences.",
    "Give me three tips to sleep better.",
    "Plants turn light into chemical energy stored as sugar.",
    "Lists are mutable while tuples are not, so tuples can be dictionary keys.",
    "Order 4417 shipped on 2024-03-05 for a total of 129.90 dollars.",
    "Version 2.14.3 fixed 27 bugs reported since March.",
    "The meeting moved from room 12 to room 31 at 10:30.",
]
# {slot} is filled and labelled; a slot ending in _x is filled but not PII.
TEMPLATES = [
    "Please forward the invoice to {PERSON} in {LOCATION} before Friday.",
    "My name is {PERSON} and my e-mail is {EMAIL_ADDRESS}.",
    "You can reach me on {PHONE_NUMBER} after six.",
    "Charge the card {CREDIT_CARD} for the annual plan.",
    "Transfer the deposit to IBAN {IBAN_CODE} by Monday.",
    "The login came from {IP_ADDRESS} twice last night.",
    "My social security number is {US_SSN}, please update the file.",
    "{PERSON} moved to {LOCATION} last year and works as a nurse.",
    "客户身份证号码 {CN_RESIDENT_ID}，请核对。",
    "请拨打手机 {CN_MOBILE} 联系我。",
    "退款请打到银行卡 {CN_BANK_CARD}，谢谢。",
    "Send the contract to {EMAIL_ADDRESS} and call {PHONE_NUMBER} if needed.",
    "Dear {PERSON}, your parcel to {LOCATION} is on its way.",
    "The server at {IP_ADDRESS} rejected the card {CREDIT_CARD}.",
    "Ticket 58213: the customer {PERSON} lost card number {BAD_CARD_x}.",
    "Reference {BAD_CN_ID_x} was rejected as an invalid ID.",
    "Meet {PERSON} at the station in {LOCATION}, then e-mail {EMAIL_ADDRESS}.",
]


@dataclass
class Sample:
    """One labelled text: gold spans as (entity, start, end)."""

    text: str
    spans: list[tuple[str, int, int]] = field(default_factory=list)


def luhn_complete(rng: random.Random, prefix: str, length: int) -> str:
    """A random Luhn-valid number with ``prefix`` and ``length`` digits."""
    body = prefix + "".join(str(rng.randrange(10)) for _ in range(length - len(prefix) - 1))
    for check in "0123456789":
        candidate = body + check
        total = 0
        for index, char in enumerate(reversed(candidate)):
            digit = int(char) * (2 if index % 2 else 1)
            total += digit - 9 if digit > 9 else digit
        if total % 10 == 0:
            return candidate
    raise AssertionError("unreachable")


def group(rng: random.Random, number: str) -> str:
    """Print a card number plainly or in groups of four."""
    style = rng.choice(["plain", " ", "-"])
    if style == "plain" or len(number) == 15:
        return number
    return style.join(number[i : i + 4] for i in range(0, len(number), 4))


def make_card(rng: random.Random) -> str:
    """A valid card of a random network."""
    prefix, length = rng.choice(
        [
            ("4", 16),
            ("4", 13),
            ("51", 16),
            ("55", 16),
            ("2221", 16),
            ("2720", 16),
            ("2" + str(rng.randint(222, 719)), 16),
            ("34", 15),
            ("37", 15),
            ("6011", 16),
            ("65", 16),
            (str(rng.randint(3528, 3589)), 16),
            ("36", 14),
            ("62", 16),
        ]
    )
    number = luhn_complete(rng, prefix, length)
    assert card_network(number) is not None, number
    return group(rng, number)


def make_iban(rng: random.Random) -> str:
    """A valid German or French IBAN (mod-97 check digits)."""
    country, bban = rng.choice(
        [
            ("DE", "".join(str(rng.randrange(10)) for _ in range(18))),
            ("FR", "".join(str(rng.randrange(10)) for _ in range(23))),
        ]
    )
    rearranged = bban + country + "00"
    numeric = "".join(str(int(ch, 36)) for ch in rearranged)
    check = 98 - int(numeric) % 97
    iban = f"{country}{check:02d}{bban}"
    if rng.random() < 0.5:
        return " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))
    return iban


def make_cn_id(rng: random.Random, valid: bool = True) -> str:
    """An 18-character resident ID, valid or with a wrong check character."""
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    region = rng.choice(["110101", "310104", "440305", "510107", "330106"])
    birth = f"{rng.randint(1950, 2005)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
    first17 = region + birth + f"{rng.randrange(1000):03d}"
    check = "10X98765432"[sum(int(c) * w for c, w in zip(first17, weights, strict=True)) % 11]
    if not valid:
        check = rng.choice([c for c in "0123456789X" if c != check])
    return first17 + check


def make_value(rng: random.Random, slot: str) -> str:
    """A random value for a template slot."""
    if slot == "PERSON":
        return f"{rng.choice(FIRST)} {rng.choice(LAST)}"
    if slot == "LOCATION":
        return rng.choice(CITIES + COUNTRIES)
    if slot == "EMAIL_ADDRESS":
        return f"{rng.choice(FIRST).lower()}.{rng.choice(LAST).lower()}@{rng.choice(DOMAINS)}"
    if slot == "PHONE_NUMBER":
        area = rng.choice(["212", "415", "617", "312", "206"])
        tail = f"01{rng.randrange(100):02d}"
        return rng.choice(
            [
                f"({area}) 555-{tail}",
                f"+1 {area} 555 {tail}",
                f"{area}-555-{tail}",
                f"+44 20 7946 0{rng.randrange(1000):03d}",
            ]
        )
    if slot == "CREDIT_CARD":
        return make_card(rng)
    if slot == "IBAN_CODE":
        return make_iban(rng)
    if slot == "IP_ADDRESS":
        if rng.random() < 0.8:
            return ".".join(str(rng.randint(1, 254)) for _ in range(4))
        return ":".join(f"{rng.randrange(65536):x}" for _ in range(8))
    if slot == "US_SSN":
        area = rng.choice([n for n in range(1, 900) if n != 666])
        return f"{area:03d}-{rng.randint(1, 99):02d}-{rng.randint(1, 9999):04d}"
    if slot == "CN_RESIDENT_ID":
        return make_cn_id(rng)
    if slot == "CN_MOBILE":
        number = f"1{rng.choice('3456789')}{rng.randrange(10)}{rng.randrange(10**8):08d}"
        return rng.choice([number, f"+86 {number}", f"{number[:3]} {number[3:7]} {number[7:]}"])
    if slot == "CN_BANK_CARD":
        return luhn_complete(rng, "62", rng.choice([16, 17, 18, 19]))
    if slot == "BAD_CARD_x":  # fails Luhn: not a card
        good = luhn_complete(rng, "4", 16)
        return good[:-1] + str((int(good[-1]) + 1) % 10)
    if slot == "BAD_CN_ID_x":
        return make_cn_id(rng, valid=False)
    raise KeyError(slot)


def fill(rng: random.Random, template: str) -> Sample:
    """Fill a template's slots, recording the spans of the PII ones."""
    sample = Sample(text="")
    rest = template
    while "{" in rest:
        before, _, after = rest.partition("{")
        slot, _, rest = after.partition("}")
        sample.text += before
        value = make_value(rng, slot)
        if not slot.endswith("_x"):
            sample.spans.append((slot, len(sample.text), len(sample.text) + len(value)))
        sample.text += value
    sample.text += rest
    return sample


def synthetic_records(count: int, seed: int) -> list[dict[str, Sample]]:
    """``count`` instruction records; about 45% of prompts/responses hold PII."""
    rng = random.Random(seed)
    records = []
    for _ in range(count):
        record = {"system": Sample(rng.choice(SYSTEMS))}
        for name in ("prompt", "response"):
            if rng.random() < 0.45:
                record[name] = fill(rng, rng.choice(TEMPLATES))
            else:
                record[name] = Sample(rng.choice(GENERIC))
        records.append(record)
    return records


def score(samples: Sequence[Sample], predictions: Sequence[list[tuple[str, int, int]]]) -> Score:
    """Score every text's predictions against its gold spans."""
    result = Score()
    for sample, predicted in zip(samples, predictions, strict=True):
        result.add(sample.spans, predicted)
    return result


def bilingual_tables() -> None:
    """Precision/recall of the default guard on the shipped bilingual set, per language."""
    from lmops_presidio.evaluation import load_labelled, table
    from lmops_presidio.evaluation import score as score_by_language
    from lmops_presidio.guard import PiiGuard

    data = Path(__file__).resolve().parents[1] / "plugins/lmops-presidio/tests/data/bilingual_pii"
    for config in (GuardConfig(), GuardConfig(entities=("PERSON", "LOCATION", "ORGANIZATION"))):
        guard = PiiGuard(config)
        for part in ("tune", "heldout"):
            samples = load_labelled(data / f"{part}.jsonl")
            found = guard.scan_batch([sample.text for sample in samples])
            predicted = [[(f.entity_type, f.start, f.end) for f in fs] for fs in found]
            scores = score_by_language(samples, predicted, entities=config.active_entities)
            overall = scores["all"]
            names = [
                e
                for e in config.active_entities
                if overall.gold(e) or overall.right[e] + overall.wrong[e]
            ]
            print(f"\nBilingual set, {part} part ({len(samples)} texts), entities {names}")
            print(table(scores, names))


# --------------------------------------------------------------------------
# The two pipelines
# --------------------------------------------------------------------------


def plain_analyzer(config: GuardConfig) -> AnalyzerEngine:
    """presidio's stock spaCy engine (full pipeline) with the same recognizers."""
    from lmops_presidio.engines import NER_LABELS_TO_ENTITIES, resolve_spacy_model
    from lmops_presidio.recognizers import pattern_recognizers
    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
    from presidio_analyzer.nlp_engine import NerModelConfiguration, SpacyNlpEngine
    from presidio_analyzer.predefined_recognizers import SpacyRecognizer

    model_path = resolve_spacy_model(str(config.ner_model))
    nlp_engine = SpacyNlpEngine(
        models=[{"lang_code": config.language, "model_name": str(model_path)}],
        ner_model_configuration=NerModelConfiguration(
            model_to_presidio_entity_mapping=dict(NER_LABELS_TO_ENTITIES),
            labels_to_ignore=[
                "ORG",
                "NORP",
                "DATE",
                "TIME",
                "CARDINAL",
                "EVENT",
                "LANGUAGE",
                "LAW",
                "MONEY",
                "ORDINAL",
                "PERCENT",
                "PRODUCT",
                "QUANTITY",
                "WORK_OF_ART",
            ],
        ),
    )
    nlp_engine.load()
    recognizers = pattern_recognizers(language=config.language, phone_regions=config.phone_regions)
    recognizers.append(
        SpacyRecognizer(
            supported_language=config.language, supported_entities=["LOCATION", "PERSON"]
        )
    )
    registry = RecognizerRegistry(recognizers=recognizers, supported_languages=[config.language])
    return AnalyzerEngine(registry=registry, nlp_engine=nlp_engine)


def plain_analyze(
    analyzer: AnalyzerEngine, config: GuardConfig, text: str
) -> list[RecognizerResult]:
    """One ``analyze`` call with the same entities and thresholds as the guard."""
    entities = list(config.active_entities)
    floor = min(config.threshold_for(name) for name in entities)
    results = analyzer.analyze(
        text=text, language=config.language, entities=entities, score_threshold=floor
    )
    return [r for r in results if r.score >= config.threshold_for(r.entity_type)]


def run_plain_loop(
    records: Sequence[dict[str, Sample]], config: GuardConfig
) -> tuple[float, list[list[tuple[str, int, int]]]]:
    """Seconds for analyze+anonymize over every field, and the analyzer's findings."""
    from lmops_presidio.operators import operator_configs
    from presidio_anonymizer import AnonymizerEngine

    analyzer = plain_analyzer(config)
    anonymizer = AnonymizerEngine()
    operators = operator_configs(config)
    plain_analyze(analyzer, config, "warm up John Smith")
    found = []
    started = time.perf_counter()
    for record in records:
        for name in FIELDS:
            text = record[name].text
            results = plain_analyze(analyzer, config, text)
            anonymizer.anonymize(text=text, analyzer_results=results, operators=operators)
            found.append([(r.entity_type, r.start, r.end) for r in results])
    return time.perf_counter() - started, found


def run_step(path: Path, workdir: Path, workers: int) -> tuple[float, dict[str, Any]]:
    """Seconds for the ``pii-redact`` step on ``path``, and its evidence metrics."""
    context = StageContext(
        stage=Stage.DATA_PREPARATION,
        operation="pii-redact",
        inputs={
            "dataset": dataset_input(
                path, shape="instruction", ref="bench", metadata={"locales": list(LOCALES)}
            )
        },
        params={"workers": workers},
        workdir=workdir,
        actor="bench",
        run_id=f"bench-{workers}",
        progress=NullProgress(),
    )
    started = time.perf_counter()
    result = PiiRedactionStep().run(context)
    return time.perf_counter() - started, dict(result.evidence[0].metrics)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the benchmark and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--baseline-records", type=int, default=None)
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts")
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument(
        "--bilingual", action="store_true", help="only print the bilingual-set tables"
    )
    args = parser.parse_args(argv)
    if args.bilingual:
        bilingual_tables()
        return
    worker_counts = [int(n) for n in args.workers.split(",")]
    baseline_n = min(args.records, args.baseline_records or args.records)

    # The step reads the regions from the dataset's declared locales; the plain
    # loop and the scoring guard get the same ones.
    config = GuardConfig(phone_regions=tuple(locale.split("-")[1] for locale in LOCALES))
    records = synthetic_records(args.records, args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "synthetic.jsonl"
        with path.open("w", encoding="utf-8") as out:
            for record in records:
                out.write(json.dumps({k: v.text for k, v in record.items()}, ensure_ascii=False))
                out.write("\n")
        rows = []
        plain_s, plain_found = run_plain_loop(records[:baseline_n], config)
        plain_rate = baseline_n / plain_s
        rows.append(("plain loop (analyze+anonymize)", baseline_n, plain_s, plain_rate, None))
        for workers in worker_counts:
            seconds, metrics = run_step(path, Path(tmp) / f"out-{workers}", workers)
            rate = args.records / seconds
            rows.append(
                (f"pii-redact step, workers={workers}", args.records, seconds, rate, metrics)
            )

    print(f"\nThroughput ({args.records} synthetic instruction records, 3 text fields each)")
    print(f"{'pipeline':<34} {'records':>8} {'seconds':>9} {'records/s':>10} {'vs plain':>9}")
    for name, count, seconds, rate, _ in rows:
        print(f"{name:<34} {count:>8} {seconds:>9.1f} {rate:>10.1f} {rate / plain_rate:>8.1f}x")
    for name, _, _, _, metrics in rows[1:]:
        print(
            f"  {name}: findings_before={metrics['findings_before']} "
            f"findings_after={metrics['findings_after']} "
            f"records_touched={metrics['records_touched']}/{metrics['records']}"
        )

    from lmops_presidio.guard import PiiGuard

    samples = [record[name] for record in records[:baseline_n] for name in FIELDS]
    guard = PiiGuard(config)
    ours_found = [
        [(f.entity_type, f.start, f.end) for f in findings]
        for findings in guard.scan_batch([s.text for s in samples])
    ]
    plain_score = score(samples, plain_found)
    ours_score = score(samples, ours_found)
    print(
        f"\nPrecision / recall per entity ({len(samples)} labelled texts, first {baseline_n} "
        "records)"
    )
    print(f"{'entity':<16} {'gold':>6} {'plain P':>8} {'plain R':>8} {'ours P':>8} {'ours R':>8}")
    worse = []
    for entity in config.active_entities:
        gold = ours_score.found[entity] + ours_score.missed[entity]
        values = (
            plain_score.precision(entity),
            plain_score.recall(entity),
            ours_score.precision(entity),
            ours_score.recall(entity),
        )
        print(f"{entity:<16} {gold:>6} " + " ".join(f"{v:>8.3f}" for v in values))
        if ours_score.recall(entity) < plain_score.recall(entity) or (
            ours_score.precision(entity) < plain_score.precision(entity)
        ):
            worse.append(entity)
    print("ours lower than plain on: " + (", ".join(worse) if worse else "none"))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
