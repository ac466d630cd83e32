"""Refusing names a guard does not know (categories, detectors), in one wording."""

from __future__ import annotations

from collections.abc import Iterable

from lmops_core.errors import ValidationError


def check_known(
    names: Iterable[str], known: Iterable[str], *, field: str, what: str = "", source: str = ""
) -> None:
    """A ValidationError listing the ``names`` not in ``known`` and what is expected.

    ``source`` (a file) and ``field`` open the message when given a source:
    ``guard.yaml: refusals.categories: unknown ['gossip'] (expected some of ...)``.
    """
    known = tuple(known)
    unknown = sorted(set(names) - set(known))
    if not unknown:
        return
    where = f"{source}: {field}: " if source else ""
    kind = f"{what} " if what else ""
    raise ValidationError(
        f"{where}unknown {kind}{unknown} (expected some of {', '.join(known)})",
        field=field,
        **({"file": source} if source else {}),
    )
