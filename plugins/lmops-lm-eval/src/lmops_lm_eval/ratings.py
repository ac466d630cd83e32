"""Subjective ratings: human scores and pairwise preferences, loaded and aggregated.

A ratings file is JSONL (one object per line) or CSV (a header row), UTF-8.
Each row is one of:

* a score: ``sample_id``, ``score`` (a number within the scale, 1-5 by
  default), optional ``rater``;
* a pairwise preference: ``sample_id``, ``a`` and ``b`` (what was compared,
  e.g. model refs), ``winner`` (``a``, ``b`` or ``tie``), optional ``rater``.

Other fields (comments...) are ignored and never reach evidence. Aggregation:
mean score with its standard error (sample standard deviation / sqrt(n)) and a
normal 95% interval; the win rate of side ``a`` counts a tie as half a win,
``(wins + ties/2) / comparisons``, with a Wilson 95% score interval.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lmops_core.contracts import StageResult
from lmops_core.errors import ValidationError
from lmops_core.prompts import PromptedRun

Z95 = 1.959963984540054
"""The two-sided 95% quantile of the standard normal distribution."""

_WINNERS = {"a", "b", "tie"}


@dataclass(frozen=True)
class ScoreRating:
    """One score given to one sample."""

    sample_id: str
    score: float
    rater: str | None = None


@dataclass(frozen=True)
class Preference:
    """One pairwise judgement: which of ``a`` and ``b`` was better on a sample."""

    sample_id: str
    a: str
    b: str
    winner: str
    rater: str | None = None


@dataclass
class Ratings:
    """The rows of a ratings file, split by type."""

    scores: list[ScoreRating] = field(default_factory=list)
    preferences: list[Preference] = field(default_factory=list)


def _bad(path: Path, line: int, fld: str, msg: str) -> ValidationError:
    return ValidationError(
        f'{path}:{line}: field "{fld}": {msg}', file=str(path), line=line, field=fld
    )


def _text(path: Path, line: int, row: Mapping[str, Any], key: str, *, required: bool) -> str | None:
    value = row.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise _bad(path, line, key, "is missing")
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise _bad(path, line, key, f"must be a string, got {value!r}")
    return str(value).strip()


def _row(
    path: Path, line: int, row: Mapping[str, Any], scale: tuple[float, float]
) -> ScoreRating | Preference:
    has_score = row.get("score") not in (None, "")
    has_winner = row.get("winner") not in (None, "")
    if has_score == has_winner:
        raise _bad(
            path,
            line,
            "score" if not has_score else "winner",
            'a row needs exactly one of "score" (a rating) or "winner" (a preference)',
        )
    sample_id = _text(path, line, row, "sample_id", required=True)
    rater = _text(path, line, row, "rater", required=False)
    assert sample_id is not None
    if has_score:
        raw = row["score"]
        try:
            score = float(raw) if not isinstance(raw, bool) else math.nan
        except (TypeError, ValueError):
            score = math.nan
        if not math.isfinite(score) or not scale[0] <= score <= scale[1]:
            raise _bad(
                path,
                line,
                "score",
                f"must be a number from {scale[0]:g} to {scale[1]:g}, got {raw!r}",
            )
        return ScoreRating(sample_id, score, rater)
    winner = str(row["winner"]).strip().lower()
    if winner not in _WINNERS:
        raise _bad(path, line, "winner", f"must be one of a, b, tie; got {row['winner']!r}")
    a = _text(path, line, row, "a", required=True)
    b = _text(path, line, row, "b", required=True)
    assert a is not None and b is not None
    return Preference(sample_id, a, b, winner, rater)


def _jsonl_rows(path: Path) -> Iterator[tuple[int, Any]]:
    with open(path, encoding="utf-8") as fh:
        for number, text in enumerate(fh, start=1):
            if not text.strip():
                continue
            try:
                yield number, json.loads(text)
            except json.JSONDecodeError as exc:
                raise ValidationError(
                    f"{path}:{number}: invalid JSON: {exc.msg}", file=str(path), line=number
                ) from exc


def _csv_rows(path: Path) -> Iterator[tuple[int, Any]]:
    with open(path, encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        if not reader.fieldnames:
            raise ValidationError(f"{path}:1: CSV has no header row", file=str(path), line=1)
        for row in reader:
            if None in row:
                raise ValidationError(
                    f"{path}:{reader.line_num}: more cells than header columns",
                    file=str(path),
                    line=reader.line_num,
                )
            yield reader.line_num, row


def load_ratings(path: Path, *, scale: tuple[float, float] = (1.0, 5.0)) -> Ratings:
    """Read a ``.jsonl`` or ``.csv`` ratings file; errors name file, line and field."""
    path = Path(path)
    if not path.is_file():
        raise ValidationError(f"ratings file {path} does not exist", file=str(path))
    suffix = path.suffix.lower()
    if suffix not in (".jsonl", ".csv"):
        raise ValidationError(f"{path}: ratings files must end in .jsonl or .csv", file=str(path))
    rows = _jsonl_rows(path) if suffix == ".jsonl" else _csv_rows(path)
    out = Ratings()
    try:
        for number, row in rows:
            if not isinstance(row, Mapping):
                raise ValidationError(
                    f"{path}:{number}: each line must be a JSON object", file=str(path), line=number
                )
            item = _row(path, number, row, scale)
            (out.scores if isinstance(item, ScoreRating) else out.preferences).append(item)  # type: ignore[arg-type]
    except UnicodeDecodeError as exc:
        raise ValidationError(f"{path}: not UTF-8 text ({exc.reason})", file=str(path)) from exc
    if not out.scores and not out.preferences:
        raise ValidationError(f"{path}: no ratings in the file", file=str(path))
    return out


def wilson_interval(successes: float, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a proportion ``successes / n`` (ties may make it fractional)."""
    if n <= 0:
        raise ValidationError("a Wilson interval needs at least one trial", field="n")
    p = successes / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def score_summary(scores: Iterable[float]) -> dict[str, float | int]:
    """Mean, standard error and normal 95% interval of a list of scores."""
    values = list(scores)
    n = len(values)
    if n == 0:
        raise ValidationError("no scores to summarise", field="score")
    mean = sum(values) / n
    var = sum((v - mean) ** 2 for v in values) / (n - 1) if n > 1 else 0.0
    stderr = math.sqrt(var / n)
    return {
        "score_mean": mean,
        "score_stderr": stderr,
        "score_ci_low": mean - Z95 * stderr,
        "score_ci_high": mean + Z95 * stderr,
        "scored": n,
    }


def preference_summary(prefs: Iterable[Preference]) -> dict[str, float | int]:
    """Win rate of side ``a`` (ties count half) with its Wilson 95% interval, and counts."""
    items = list(prefs)
    n = len(items)
    if n == 0:
        raise ValidationError("no preferences to summarise", field="winner")
    wins = sum(1 for p in items if p.winner == "a")
    losses = sum(1 for p in items if p.winner == "b")
    ties = n - wins - losses
    rate = (wins + ties / 2) / n
    low, high = wilson_interval(wins + ties / 2, n)
    return {
        "win_rate": rate,
        "win_rate_ci_low": low,
        "win_rate_ci_high": high,
        "wins": wins,
        "losses": losses,
        "ties": ties,
        "comparisons": n,
    }


def aggregate(ratings: Ratings, *, source: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(metrics, details)`` for ``ratings`` evidence; never includes rater names or text."""
    metrics: dict[str, Any] = {
        "source": source,
        "count": len(ratings.scores) + len(ratings.preferences),
        "scored": len(ratings.scores),
        "comparisons": len(ratings.preferences),
    }
    if ratings.scores:
        metrics.update(score_summary(r.score for r in ratings.scores))
    if ratings.preferences:
        metrics.update(preference_summary(ratings.preferences))
    raters = {r.rater for r in [*ratings.scores, *ratings.preferences] if r.rater}
    details: dict[str, Any] = {
        "raters": len(raters),
        "samples": len({r.sample_id for r in [*ratings.scores, *ratings.preferences]}),
        "interval": "95%: normal for the mean score, Wilson for the win rate (ties = half)",
    }
    if ratings.scores:
        hist: dict[str, int] = {}
        for r in ratings.scores:
            hist[f"{r.score:g}"] = hist.get(f"{r.score:g}", 0) + 1
        details["score_histogram"] = dict(sorted(hist.items()))
    if ratings.preferences:
        details["pairs"] = sorted({f"{p.a} vs {p.b}" for p in ratings.preferences})
    return metrics, details


def ratings_result(
    metrics: dict[str, Any],
    details: dict[str, Any],
    *,
    artifacts: dict[str, Path] | None = None,
    run_metrics: dict[str, float] | None = None,
    prompted: PromptedRun | None = None,
) -> StageResult:
    """A run's result: one ``ratings`` evidence record on role "model" (judge or human), or
    on the prompt version ``prompted`` ran the model with, paired with the model."""
    evidence = (prompted or PromptedRun()).evidence("ratings", metrics, details, artifacts)
    return StageResult(evidence=[evidence], metrics=run_metrics or {})
