"""Runtime guard configurations as governed assets: reading and checking one file.

A guard configuration is a YAML document whose ``kind`` names who understands it
(``GuardConfig`` when it names none). The core never imports that plugin: the
:class:`~lmops_core.runtimes.GuardConfigType` registered for the kind
(``register_guard_configs``) validates the document and names its digest, which
becomes the guard version's digest, so a change of layout or comments is not a
change of guard, and every change of what it lets through is.
"""

from __future__ import annotations

from typing import Any

from lmops_core.digests import parse_digest
from lmops_core.errors import ValidationError
from lmops_core.runtimes import GuardConfigSource, GuardIdentity

DEFAULT_GUARD_KIND = "GuardConfig"
"""The kind of a guard configuration document that names none (the ``lmops/v1`` format)."""

MAX_GUARD_FILE_BYTES = 1 << 20
"""A guard configuration is a short document; a larger file is refused before parsing."""


def parse_guard_document(data: bytes, *, source: str) -> dict[str, Any]:
    """The YAML mapping in ``data``; errors name ``source``."""
    import yaml

    if len(data) > MAX_GUARD_FILE_BYTES:
        raise ValidationError(
            f"{source}: a guard configuration is at most {MAX_GUARD_FILE_BYTES} bytes",
            file=source,
        )
    try:
        document = yaml.safe_load(data.decode("utf-8"))
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ValidationError(f"{source}: not a UTF-8 YAML document: {exc}", file=source) from None
    if not isinstance(document, dict):
        raise ValidationError(
            f"{source}: a guard configuration is a YAML mapping, got {type(document).__name__}",
            file=source,
        )
    return document


def check_guard_document(types: GuardConfigSource, data: bytes, *, source: str) -> GuardIdentity:
    """Validate the guard configuration ``data`` with the plugin registered for its kind.

    No plugin for the kind is a :class:`~lmops_core.errors.PluginError` naming it (fail
    closed: an unchecked guard is never registered); a plugin answering for another
    kind, or with a malformed digest, is a :class:`ValidationError`.
    """
    document = parse_guard_document(data, source=source)
    kind = document.get("kind", DEFAULT_GUARD_KIND)
    if not isinstance(kind, str) or not kind:
        raise ValidationError(f"{source}: kind: a non-empty string", field="kind", file=source)
    identity = types.guard_config_type(kind).check(document, source)
    if not isinstance(identity, GuardIdentity) or identity.kind != kind:
        raise ValidationError(
            f"{source}: the plugin for kind {kind!r} answered {identity!r}, not its identity",
            file=source,
        )
    parse_digest(identity.digest)
    return identity
