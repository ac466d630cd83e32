"""Asset names and version references.

Names are decoded and normalised *before* the uniqueness check, so that
``my%2Dmodel``, ``My_Model`` and ``my-model`` cannot coexist as three assets.
A reference names one version: ``model:name@3``, ``name@3``, ``name@prod``
(an alias) or ``name@latest``; the type prefix is optional where the caller
already knows the asset type.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from urllib.parse import unquote

from lmops_core.contracts import AssetType
from lmops_core.errors import ValidationError

_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_SEPARATORS = re.compile(r"[._-]+")
_ALIAS_RE = re.compile(r"[a-z][a-z0-9_-]{0,63}")
ASSET_TYPES: tuple[AssetType, ...] = ("dataset", "model", "prompt", "suite", "guard")


def clean_name(name: str) -> str:
    """Decode percent-escapes and Unicode compatibility forms; validate the result.

    Returns the display form (case kept). Raises ``ValidationError`` naming the
    rule a bad name breaks.
    """
    if not isinstance(name, str):
        raise ValidationError("asset name must be a string", field="name")
    decoded = name
    for _ in range(4):
        nxt = unquote(decoded)
        if nxt == decoded:
            break
        decoded = nxt
    decoded = unicodedata.normalize("NFKC", decoded).strip()
    if not _NAME_RE.fullmatch(decoded):
        raise ValidationError(
            f"invalid asset name {name!r}: use 1-128 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit",
            field="name",
        )
    return decoded


def normalize_name(name: str) -> str:
    """The key names are unique under: lower case, runs of ``._-`` folded to ``-``."""
    return _SEPARATORS.sub("-", clean_name(name).lower()).strip("-")


def validate_alias(alias: str) -> str:
    """Aliases are short lower-case words (``prod``, ``champion``); not numbers or 'latest'."""
    if not _ALIAS_RE.fullmatch(alias or "") or alias == "latest":
        raise ValidationError(
            f"invalid alias {alias!r}: use a lower-case word of letters, digits, '_' or '-' "
            "(not 'latest')",
            field="alias",
        )
    return alias


@dataclass(frozen=True)
class VersionRef:
    """A parsed reference to one version (or the latest) of an asset."""

    asset_type: AssetType | None
    name: str
    version: int | None = None
    alias: str | None = None

    def __str__(self) -> str:
        prefix = f"{self.asset_type}:" if self.asset_type else ""
        selector = str(self.version) if self.version is not None else (self.alias or "latest")
        return f"{prefix}{self.name}@{selector}"


def parse_ref(ref: str, *, asset_type: AssetType | None = None) -> VersionRef:
    """Parse ``[type:]name[@N|@alias|@latest]``; the default selector is latest."""
    if not isinstance(ref, str) or not ref.strip():
        raise ValidationError("empty version reference", field="ref")
    text = ref.strip()
    typ: AssetType | None = asset_type
    if ":" in text.split("@", 1)[0]:
        prefix, text = text.split(":", 1)
        if prefix not in ASSET_TYPES:
            raise ValidationError(
                f"invalid reference {ref!r}: unknown asset type {prefix!r} "
                f"(expected one of {', '.join(ASSET_TYPES)})",
                field="ref",
            )
        if asset_type is not None and prefix != asset_type:
            raise ValidationError(
                f"reference {ref!r} names a {prefix}, but a {asset_type} is expected", field="ref"
            )
        typ = prefix
    name, _, selector = text.partition("@")
    name = clean_name(name)
    if not selector or selector == "latest":
        return VersionRef(typ, name)
    if selector.isdigit():
        # Only ASCII digits: str.isdigit() also accepts '²' or Arabic-Indic digits.
        if not selector.isascii() or len(selector) > 9:
            raise ValidationError(
                f"invalid reference {ref!r}: a version is 1 to 9 ASCII digits", field="ref"
            )
        number = int(selector)
        if number < 1:
            raise ValidationError(f"invalid reference {ref!r}: versions start at 1", field="ref")
        return VersionRef(typ, name, version=number)
    return VersionRef(typ, name, alias=validate_alias(selector))
