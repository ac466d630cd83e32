"""Throughput and accuracy of lmops-presidio's ``pii-redact`` step against plain presidio.

Workloads, each measured in one run: seeded synthetic instruction records
(three text fields, mostly English, some Chinese numbers and IDs; prompts and
responses repeat, as templated data does), the same kind of records with every
prompt and response distinct (``--distinct-synthetic``), and bilingual texts built
from the labelled set shipped with the plugin's tests (Chinese, English and
mixed texts, one ``text`` field each, all distinct; the Chinese NER does most of
the work). On each, the same texts go through

* the plain loop: presidio's ``AnalyzerEngine.analyze`` then
  ``AnonymizerEngine.anonymize``, one text at a time, on presidio's stock spaCy
  NLP engine (the same model as ours, its full pipeline as presidio loads it)
  with the same pattern recognizers, entities and thresholds;
* presidio's batch engines: ``BatchAnalyzerEngine.analyze_iterator`` (the NLP
  pipeline over batches with ``nlp.pipe``) then ``BatchAnonymizerEngine``;
* our step (``PiiRedactionStep.run`` on a real StageContext, reading and
  writing JSONL, re-scanning what it redacted), for each ``--workers`` value.

Every pipeline is warm: its engines built, and the pipeline run once on 100
synthetic records of another seed (:func:`warm_up`), before any clock starts (a
worker process of a ``workers > 1`` run loads its own engines, on the clock).
Then the process's heap is settled (:func:`lmops_core.heap.settle_heap`), for
every pipeline alike, as ``pii-redact`` settles its own process.
Each pipeline gets records/s (wall clock) and records per CPU-second (CPU time
of this process and of the worker processes it waited for); on a shared
machine the second is the steadier figure. Ratios are against the plain loop
and against the batch engines, in the same run.

It then prints precision and recall per entity type and per language (``en``,
``zh``, ``mixed``; a synthetic text is ``zh`` when it holds a Han character)
for the plain loop's analyzer and for our guard.

    .venv/bin/python benchmarks/bench_presidio.py --records 1000
    .venv/bin/python benchmarks/bench_presidio.py --records 100000 --baseline-records 2000

``--baseline-records`` runs the (slow) presidio baselines on the first M
synthetic records only; their rates are still per record, and precision and
recall are compared on those M records.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lmops_presidio.checksums import card_network
from lmops_presidio.config import GuardConfig
from lmops_presidio.evaluation import LabelledText, Score, Span, load_labelled, score
from lmops_presidio.prefilter import HAN
from lmops_presidio.step import PiiRedactionStep

from lmops_core.contracts import NullProgress, Stage, StageContext
from lmops_core.heap import settle_heap
from lmops_core.testing import dataset_input

# presidio, spaCy (and through them torch) are imported inside the functions
# that use them: the step's spawned workers re-import this script, and its
# top level must stay light for their start-up to be cheap.
if TYPE_CHECKING:
    from presidio_analyzer import AnalyzerEngine, RecognizerResult

FIELDS = ("system", "prompt", "response")
BILINGUAL = Path(__file__).resolve().parents[1] / "plugins/lmops-presidio/tests/data/bilingual_pii"

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


def distinct_synthetic_records(count: int, seed: int) -> list[dict[str, Sample]]:
    """``count`` instruction records whose prompts and responses are all distinct.

    Each prompt and response is a template filled with fresh values (so each holds PII), and
    no text occurs twice in the set; the system prompt is one of :data:`SYSTEMS`, repeated as
    in real instruction sets. Nothing here can be answered twice from a cache.
    """
    rng = random.Random(seed)
    seen: set[str] = set()
    records: list[dict[str, Sample]] = []
    attempts = 0
    while len(records) < count:
        attempts += 1
        if attempts > 20 * count:
            raise ValueError(f"--distinct-synthetic: could not draw {count} distinct records")
        prompt, response = (fill(rng, rng.choice(TEMPLATES)) for _ in range(2))
        if prompt.text == response.text or {prompt.text, response.text} & seen:
            continue
        seen.update((prompt.text, response.text))
        records.append(
            {"system": Sample(rng.choice(SYSTEMS)), "prompt": prompt, "response": response}
        )
    return records


def labelled(sample: Sample) -> LabelledText:
    """A synthetic text as a labelled one; ``zh`` when it holds a Han character."""
    lang = "zh" if HAN.search(sample.text) else "en"
    return LabelledText(sample.text, lang, tuple(sample.spans))


@dataclass
class Workload:
    """Records to redact (one JSONL file of ``shape``) and their labelled texts, in order."""

    name: str
    shape: str
    records: list[dict[str, str]]
    texts: list[LabelledText]
    heldout_from: int | None = None
    """Index of the first text of the held-out part, if the workload has one."""

    @property
    def fields(self) -> int:
        """Text fields per record."""
        return len(self.texts) // len(self.records)

    def head(self, count: int) -> Workload:
        """The first ``count`` records."""
        return Workload(
            self.name, self.shape, self.records[:count], self.texts[: count * self.fields]
        )


def instruction_workload(name: str, records: list[dict[str, Sample]]) -> Workload:
    """Labelled instruction records (:data:`FIELDS`) as a workload."""
    return Workload(
        name=name,
        shape="instruction",
        records=[{field: record[field].text for field in FIELDS} for record in records],
        texts=[labelled(record[field]) for record in records for field in FIELDS],
    )


def synthetic_workload(count: int, seed: int) -> Workload:
    """``count`` synthetic instruction records."""
    return instruction_workload("synthetic instruction records", synthetic_records(count, seed))


def distinct_synthetic_workload(count: int, seed: int) -> Workload:
    """``count`` records of :func:`distinct_synthetic_records`."""
    return instruction_workload(
        "distinct synthetic instruction records (every prompt and response distinct)",
        distinct_synthetic_records(count, seed),
    )


def bilingual_workload() -> Workload:
    """The shipped bilingual set (tune and held-out parts) as ``text`` records."""
    tune = load_labelled(BILINGUAL / "tune.jsonl")
    texts = tune + load_labelled(BILINGUAL / "heldout.jsonl")
    return Workload(
        name="bilingual set (zh/en/mixed)",
        shape="text",
        records=[{"text": t.text} for t in texts],
        texts=texts,
        heldout_from=len(tune),
    )


def distinct_bilingual_workload(count: int) -> Workload:
    """``count`` bilingual texts of ``make_bilingual_pii_set.distinct_records``: every text,
    and every redacted text, distinct (the shipped set's redacted texts repeat)."""
    # Imported here: that script imports this one's value generators.
    from make_bilingual_pii_set import distinct_records

    texts = [
        LabelledText(
            str(r["text"]),
            str(r["lang"]),
            tuple((str(e), int(s), int(f)) for e, s, f in r["spans"]),  # type: ignore[attr-defined]
        )
        for r in distinct_records(count)
    ]
    return Workload(
        name="distinct bilingual texts (zh/en/mixed, two sentences each)",
        shape="text",
        records=[{"text": t.text} for t in texts],
        texts=texts,
    )


# --------------------------------------------------------------------------
# The pipelines
# --------------------------------------------------------------------------

Findings = list[list[Span]]

WARM_UP = "warm up: John Smith, 请拨打 13812345678, 李娜明天去上海, ada@example.com"
"""One call of every engine before any clock starts: the NER models, the phone matcher and the
e-mail recognizer's suffix list (which tldextract builds on its first domain, a few tenths of a
second that would otherwise fall on whichever pipeline runs first)."""


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


class Presidio:
    """The two presidio baselines, sharing one warm analyzer, anonymizer and config."""

    def __init__(self, config: GuardConfig) -> None:
        from lmops_presidio.operators import operator_configs
        from presidio_anonymizer import AnonymizerEngine, BatchAnonymizerEngine

        self.config = config
        self.entities = list(config.active_entities)
        self.floor = min(config.threshold_for(name) for name in self.entities)
        self.analyzer = plain_analyzer(config)
        self.anonymizer = AnonymizerEngine()
        self.batch_anonymizer = BatchAnonymizerEngine(anonymizer_engine=self.anonymizer)
        self.operators = operator_configs(config)
        self.plain_loop([WARM_UP])
        self.batch([WARM_UP])

    def _kept(self, results: list[RecognizerResult]) -> list[RecognizerResult]:
        return [r for r in results if r.score >= self.config.threshold_for(r.entity_type)]

    def plain_loop(self, texts: Sequence[str]) -> Findings:
        """``analyze`` then ``anonymize``, one text at a time."""
        found = []
        for text in texts:
            results = self._kept(
                self.analyzer.analyze(
                    text=text,
                    language=self.config.language,
                    entities=self.entities,
                    score_threshold=self.floor,
                )
            )
            self.anonymizer.anonymize(text=text, analyzer_results=results, operators=self.operators)
            found.append([(r.entity_type, r.start, r.end) for r in results])
        return found

    def batch(self, texts: Sequence[str]) -> Findings:
        """``BatchAnalyzerEngine`` then ``BatchAnonymizerEngine`` over every text."""
        from presidio_analyzer import BatchAnalyzerEngine

        results = [
            self._kept(found)
            for found in BatchAnalyzerEngine(self.analyzer).analyze_iterator(
                list(texts),
                self.config.language,
                batch_size=self.config.batch_size,
                entities=self.entities,
                score_threshold=self.floor,
            )
        ]
        self.batch_anonymizer.anonymize_list(list(texts), results, operators=self.operators)
        return [[(r.entity_type, r.start, r.end) for r in found] for found in results]


def run_step(workload: Workload, workdir: Path, workers: int) -> dict[str, Any]:
    """Run ``pii-redact`` on ``workload`` (written to a file first); its evidence metrics.

    The redacted records are left in ``workdir/out/dataset.jsonl``.
    """
    path = workdir / "input.jsonl"
    workdir.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as out:
        for record in workload.records:
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
    context = StageContext(
        stage=Stage.DATA_PREPARATION,
        operation="pii-redact",
        inputs={
            "dataset": dataset_input(
                path, shape=workload.shape, ref="bench", metadata={"locales": list(LOCALES)}
            )
        },
        params={"workers": workers},
        workdir=workdir / "out",
        actor="bench",
        run_id=f"bench-{workers}",
        progress=NullProgress(),
    )
    return dict(PiiRedactionStep().run(context).evidence[0].metrics)


@dataclass
class Timing:
    """One pipeline's run: records, wall seconds and CPU seconds."""

    name: str
    records: int
    wall: float
    cpu: float
    note: str = ""

    @property
    def rate(self) -> float:
        """Records per second of wall clock."""
        return self.records / self.wall

    @property
    def per_cpu(self) -> float:
        """Records per CPU-second."""
        return self.records / self.cpu


def cpu_seconds() -> float:
    """CPU time of this process and of the child processes it has waited for."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


@dataclass
class Measured:
    """What timing a pipeline gave back."""

    timing: Timing
    result: Any = field(default=None)


def timed(name: str, records: int, run: Callable[[], Any]) -> Measured:
    """Run ``run`` once, measuring wall clock and CPU time."""
    cpu, wall = cpu_seconds(), time.perf_counter()
    result = run()
    timing = Timing(name, records, time.perf_counter() - wall, cpu_seconds() - cpu)
    return Measured(timing, result)


def throughput_table(title: str, timings: Sequence[Timing]) -> str:
    """Records/s and records per CPU-second of each pipeline, and ratios to both baselines."""
    plain, batch = timings[0], timings[1]
    lines = [
        title,
        f"{'pipeline':<34} {'records':>7} {'wall s':>7} {'cpu s':>7} {'rec/s':>7} "
        f"{'rec/cpu-s':>9} {'vs plain':>15} {'vs batch':>15}",
    ]
    for t in timings:
        ratios = [
            f"{t.rate / base.rate:>6.1f}x/{t.per_cpu / base.per_cpu:>6.1f}x"
            for base in (plain, batch)
        ]
        lines.append(
            f"{t.name:<34} {t.records:>7} {t.wall:>7.1f} {t.cpu:>7.1f} {t.rate:>7.1f} "
            f"{t.per_cpu:>9.1f} {ratios[0]:>15} {ratios[1]:>15}"
        )
    lines.append("(ratios: by records/s / by records per CPU-second)")
    return "\n".join(lines)


WARM_UP_RECORDS = 100
"""Distinct synthetic records each pipeline redacts, untimed, before any clock starts."""


def warm_up(presidio: Presidio, tmp: Path, seed: int) -> None:
    """Run every pipeline once on records no timed workload holds (another seed).

    One call on one text loads the engines but leaves first-use costs on the clock: the
    buffers ONNX Runtime and numpy grow to a batch's size, the words each spaCy vocabulary
    meets first, LAC's rows for characters read first. Measured on the distinct bilingual
    texts, the step took 2.2-2.4 CPU-s after the one-text warm-up and 1.6-2.0 after a run on
    other records.
    """
    records = distinct_synthetic_workload(WARM_UP_RECORDS, seed + 1)
    texts = [t.text for t in records.texts]
    presidio.plain_loop(texts)
    presidio.batch(texts)
    run_step(records, tmp / "warm-up", 1)


def measure(
    workload: Workload, presidio: Presidio, workers: Sequence[int], tmp: Path, baseline_n: int
) -> Findings:
    """Time the baselines (on the first ``baseline_n`` records) and the step (on all).

    Prints the throughput table; returns the plain loop's findings.
    """
    head = workload.head(baseline_n)
    texts = [t.text for t in head.texts]
    plain = timed("plain loop (analyze+anonymize)", baseline_n, lambda: presidio.plain_loop(texts))
    timings = [
        plain.timing,
        timed("presidio batch engines", baseline_n, lambda: presidio.batch(texts)).timing,
    ]
    notes = []
    texts_of_all = [t.text for t in workload.texts]
    count = len(workload.records)
    for n in workers:
        name = f"pii-redact step, workers={n}"
        run = timed(name, count, lambda n=n: run_step(workload, tmp / f"{workload.shape}-{n}", n))
        timings.append(run.timing)
        metrics = run.result
        changed = changed_texts(workload, tmp / f"{workload.shape}-{n}" / "out" / "dataset.jsonl")
        notes.append(
            f"  {name}: findings_before={metrics['findings_before']} "
            f"findings_after={metrics['findings_after']} "
            f"records_touched={metrics['records_touched']}/{metrics['records']}; "
            f"distinct texts: {len(set(texts_of_all))} of {len(texts_of_all)} in, "
            f"{len(set(changed))} of {len(changed)} changed ones out"
        )
    print(
        throughput_table(
            f"\nThroughput: {workload.name}, {count} records x {workload.fields} text field(s)"
            + (f" (baselines on the first {baseline_n})" if baseline_n < count else ""),
            timings,
        )
    )
    print("\n".join(notes))
    return list(plain.result)


def changed_texts(workload: Workload, output: Path) -> list[str]:
    """The redacted texts of ``output`` that differ from the input's.

    The step re-scans each distinct one once (placeholders blanked), so their
    number says how much of the re-scan the data's repeats saved.
    """
    with output.open(encoding="utf-8") as handle:
        redacted = [json.loads(line) for line in handle]
    return [
        after[name]
        for before, after in zip(workload.records, redacted, strict=True)
        for name in before
        if after[name] != before[name]
    ]


# --------------------------------------------------------------------------
# Accuracy
# --------------------------------------------------------------------------


def accuracy_table(
    texts: Sequence[LabelledText], plain: Findings, ours: Findings, entities: Sequence[str]
) -> str:
    """Gold, precision and recall per language and entity type, plain presidio and ours."""
    plain_scores = score(texts, plain, entities=entities)
    ours_scores = score(texts, ours, entities=entities)
    lines = [
        f"{'lang':<6} {'entity':<16} {'gold':>6} {'plain P':>8} {'plain R':>8} "
        f"{'ours P':>8} {'ours R':>8}"
    ]
    worse = []
    for lang in sorted(ours_scores, key=lambda name: (name != "all", name)):
        mine, theirs = ours_scores[lang], plain_scores[lang]
        for entity in [*entities, None]:
            if entity is not None and not (mine.gold(entity) or _reported(mine, theirs, entity)):
                continue
            values = [
                theirs.precision(entity),
                theirs.recall(entity),
                mine.precision(entity),
                mine.recall(entity),
            ]
            lines.append(
                f"{lang:<6} {entity or 'overall':<16} {mine.gold(entity):>6} "
                + " ".join(f"{v:>8.3f}" for v in values)
            )
            if lang == "all" and entity and _lower(mine, theirs, entity):
                worse.append(entity)
    lines.append("ours lower than plain on: " + (", ".join(worse) if worse else "none"))
    return "\n".join(lines)


def person_by_script(
    texts: Sequence[LabelledText], plain: Findings, ours: Findings
) -> tuple[list[LabelledText], Findings, Findings]:
    """Only the gold and found ``PERSON`` spans, relabelled ``PERSON_HAN`` or ``PERSON_LATIN``
    (names written in Han characters, or not), to score Chinese and English names apart."""

    def relabel(text: str, spans: Sequence[Span]) -> list[Span]:
        return [
            (f"PERSON_{'HAN' if HAN.search(text, start, end) else 'LATIN'}", start, end)
            for entity, start, end in spans
            if entity == "PERSON"
        ]

    return (
        [LabelledText(t.text, t.lang, tuple(relabel(t.text, t.spans))) for t in texts],
        [relabel(t.text, found) for t, found in zip(texts, plain, strict=True)],
        [relabel(t.text, found) for t, found in zip(texts, ours, strict=True)],
    )


def print_accuracy(
    title: str,
    texts: Sequence[LabelledText],
    plain: Findings,
    ours: Findings,
    entities: Sequence[str],
) -> None:
    """The accuracy table of ``texts``, with ``PERSON`` also split by script."""
    print(f"\nPrecision / recall: {title}, {len(texts)} labelled texts")
    print(accuracy_table(texts, plain, ours, entities))
    print("PERSON by script (Han characters or not):")
    print(accuracy_table(*person_by_script(texts, plain, ours), ["PERSON_HAN", "PERSON_LATIN"]))


def _reported(mine: Score, theirs: Score, entity: str) -> bool:
    return bool(
        mine.right[entity] + mine.wrong[entity] + theirs.right[entity] + theirs.wrong[entity]
    )


def _lower(mine: Score, theirs: Score, entity: str) -> bool:
    return mine.recall(entity) < theirs.recall(entity) or mine.precision(entity) < theirs.precision(
        entity
    )


def ours(config: GuardConfig, texts: Sequence[LabelledText]) -> Findings:
    """Our guard's findings (the code path the step runs)."""
    from lmops_presidio.guard import PiiGuard

    found = PiiGuard(config).scan_batch([t.text for t in texts])
    return [[(f.entity_type, f.start, f.end) for f in fs] for fs in found]


def main(argv: Sequence[str] | None = None) -> None:
    """Run the benchmark and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=1000)
    parser.add_argument("--baseline-records", type=int, default=None)
    parser.add_argument("--workers", default="1", help="comma-separated worker counts")
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument(
        "--skip-bilingual", action="store_true", help="measure the synthetic records only"
    )
    parser.add_argument(
        "--skip-synthetic", action="store_true", help="measure the bilingual sets only"
    )
    parser.add_argument(
        "--distinct",
        type=int,
        default=1220,
        help="bilingual texts that stay distinct once redacted, timed (0: none)",
    )
    parser.add_argument(
        "--distinct-synthetic",
        type=int,
        default=1000,
        help="synthetic records whose prompts and responses are all distinct, timed "
        "(0: none; skipped with --skip-synthetic)",
    )
    parser.add_argument(
        "--time-shipped",
        action="store_true",
        help="also time the shipped bilingual set (its redacted texts repeat); "
        "its accuracy is printed either way",
    )
    args = parser.parse_args(argv)
    workers = [int(n) for n in args.workers.split(",")]
    baseline_n = min(args.records, args.baseline_records or args.records)

    # The step reads the regions from the dataset's declared locales; the
    # baselines and the scoring guard get the same ones.
    config = GuardConfig(phone_regions=tuple(locale.split("-")[1] for locale in LOCALES))
    presidio = Presidio(config)
    synthetic = synthetic_workload(args.records, args.seed)
    workloads = [] if args.skip_synthetic else [synthetic]
    if not args.skip_synthetic and args.distinct_synthetic:
        workloads.append(distinct_synthetic_workload(args.distinct_synthetic, args.seed))
    shipped = bilingual_workload()
    if not args.skip_bilingual:
        if args.distinct:
            workloads.append(distinct_bilingual_workload(args.distinct))
        if args.time_shipped:
            workloads.append(shipped)
    with tempfile.TemporaryDirectory() as tmp:
        warm_up(presidio, Path(tmp), args.seed)
        # Settled once every engine is loaded, for every pipeline alike (the step settles
        # its process itself, which here is then a no-op): a full garbage collection walking
        # the models' objects costs 0.3-0.4 s, and would otherwise fall inside one pipeline's
        # clock or another's by chance.
        settle_heap()
        found = [
            measure(
                w, presidio, workers, Path(tmp), baseline_n if w is synthetic else len(w.records)
            )
            for w in workloads
        ]
    if not args.skip_bilingual and shipped not in workloads:
        # Accuracy only: the plain loop's findings, untimed.
        workloads.append(shipped)
        found.append(presidio.plain_loop([t.text for t in shipped.texts]))
    for workload, plain in zip(workloads, found, strict=True):
        texts = workload.texts[: len(plain)]
        mine = ours(config, texts)
        print_accuracy(workload.name, texts, plain, mine, presidio.entities)
        first = workload.heldout_from
        if first is not None:
            print_accuracy(
                f"{workload.name}, held-out part only",
                texts[first:],
                plain[first:],
                mine[first:],
                presidio.entities,
            )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
