"""The guard configuration of a service as one versioned document, named by its digest.

Everything that decides what the service lets through lives in one YAML file::

    apiVersion: lmops/v1
    kind: GuardConfig
    name: retail-assistant
    pii:                        # the ``pii`` guard (lmops-presidio)
      mode: redact              # redact | block | off
      options: {entities: [EMAIL_ADDRESS, CREDIT_CARD]}   # given to the guard's factory
    refusals:
      categories: [weapons, malware]   # default: every category of lmops_serve.request_filter
    injection:                  # prompt injection / jailbreaks (lmops_serve.injection)
      mode: block               # block | flag | off (default: off)
      detectors: [rules]        # default: [rules]
      threshold: 0.5            # a request scoring this or more is an injection
    output:
      segment_chars: 48         # streamed replies are checked in segments this long

Its digest is that of its content (canonical JSON of the validated document, defaults
filled in), so comments and layout do not change it and every change of meaning does.
An ``injection`` section left at its defaults (off) is left out of the digest, so a
configuration written before the section existed keeps its digest.
The service reports it at ``/version`` and in every inference log line. A service started
without a file runs :meth:`GuardSpec.inline` of its options, which has a digest too.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticError

from lmops_core.digests import digest_bytes
from lmops_core.errors import ValidationError
from lmops_core.kit import read_yaml_file
from lmops_serve.injection import DETECTORS
from lmops_serve.known_names import check_known
from lmops_serve.request_filter import CATEGORIES

DEFAULT_SEGMENT_CHARS = 48
"""Streamed text is checked in segments cut at whitespace once this long, so an
e-mail or card number is whole when the guard sees it."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PiiSection(_Strict):
    """The ``pii`` guard: its mode and the options its factory is built with."""

    mode: Literal["redact", "block", "off"] = "redact"
    options: dict[str, Any] = Field(default_factory=dict)


class RefusalSection(_Strict):
    """Request categories answered with the fixed refusal (``None``: all of them)."""

    categories: list[str] | None = None


class InjectionSection(_Strict):
    """Prompt-injection detection on requests: what happens, with which detectors, from
    which score (see :mod:`lmops_serve.injection`)."""

    mode: Literal["block", "flag", "off"] = "off"
    detectors: list[str] = Field(default_factory=lambda: ["rules"], min_length=1)
    threshold: float = Field(0.5, gt=0.0, le=1.0)


class OutputSection(_Strict):
    """How streamed output is checked."""

    segment_chars: int = Field(DEFAULT_SEGMENT_CHARS, ge=8, le=4096)


class GuardSpec(_Strict):
    """A validated guard configuration (see the module docstring for the file)."""

    api_version: Literal["lmops/v1"] = Field("lmops/v1", alias="apiVersion")
    kind: Literal["GuardConfig"] = "GuardConfig"
    name: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    pii: PiiSection = Field(default_factory=PiiSection)
    refusals: RefusalSection = Field(default_factory=RefusalSection)
    injection: InjectionSection = Field(default_factory=InjectionSection)
    output: OutputSection = Field(default_factory=OutputSection)

    @property
    def digest(self) -> str:
        """``sha256:`` of the canonical JSON of the document, defaults filled in."""
        document = self.model_dump(by_alias=True)
        if self.injection == InjectionSection():
            del document["injection"]  # as before the section existed: same meaning, same digest
        body = json.dumps(document, sort_keys=True, separators=(",", ":"))
        return digest_bytes(body.encode("utf-8"))

    def identity(self) -> dict[str, str]:
        """What a service reports about the guard that is live: name and digest."""
        return {"name": self.name, "digest": self.digest}

    @classmethod
    def inline(
        cls,
        mode: str,
        refuse_categories: Iterable[str] | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> GuardSpec:
        """The configuration a service built from plain options runs, named ``inline``."""
        document = {
            "name": "inline",
            "pii": {"mode": mode, "options": dict(options or {})},
            "refusals": {
                "categories": None if refuse_categories is None else list(refuse_categories)
            },
        }
        return parse_guard_spec(document, source="guard options")


def parse_guard_spec(document: object, *, source: str) -> GuardSpec:
    """A :class:`GuardSpec` from parsed YAML; errors name ``source`` and the field."""
    try:
        spec = GuardSpec.model_validate(document)
    except PydanticError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "(document)"
        raise ValidationError(
            f"{source}: {where}: {first['msg']}", field=where, file=source
        ) from exc
    check_known(
        spec.refusals.categories or (), CATEGORIES, field="refusals.categories", source=source
    )
    check_known(spec.injection.detectors, DETECTORS, field="injection.detectors", source=source)
    return spec


def load_guard_spec(path: Path | str) -> GuardSpec:
    """Read and validate a guard configuration file."""
    path = Path(path)
    return parse_guard_spec(read_yaml_file(path), source=str(path))
