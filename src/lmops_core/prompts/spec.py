"""A prompt version's content, checked, with its digest and how it renders one input."""

from __future__ import annotations

import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from lmops_core.contracts import InputAsset
from lmops_core.digests import digest_bytes
from lmops_core.errors import ValidationError
from lmops_core.registry.plain_text import check_text


def template_fields(name: str, template: str) -> list[str]:
    """The ``{variable}`` names ``template`` uses, sorted; a broken format string is refused."""
    try:
        return sorted({f for _, f, _, _ in string.Formatter().parse(template) if f})
    except ValueError as exc:
        raise ValidationError(
            f"prompt {name!r}: template is not a valid format string ({exc})", field="template"
        ) from None


def escape_braces(text: str) -> str:
    """``text`` as literal template text (``{`` and ``}`` doubled)."""
    return text.replace("{", "{{").replace("}", "}}")


@dataclass(frozen=True)
class PromptSpec:
    """A prompt's content: its template, the variables it declares and its system prompt.

    A model's runtime answers one text, so a rendering is the system prompt (when there is
    one), a blank line, then the filled-in template.
    """

    template: str
    variables: tuple[str, ...]
    system_prompt: str = ""

    @classmethod
    def checked(
        cls,
        name: str,
        template: str,
        *,
        variables: Sequence[str] | None = None,
        system_prompt: str = "",
    ) -> PromptSpec:
        """The spec of prompt ``name``, or a ``ValidationError`` naming the field at fault:
        ``{variable}`` placeholders must match ``variables`` (default: those it uses)."""
        check_text(template, "prompt template")
        check_text(system_prompt, "system prompt")
        for variable in variables or ():
            check_text(variable, "prompt variable")
        found = template_fields(name, template)
        declared = sorted(set(variables)) if variables is not None else found
        if found != declared:
            raise ValidationError(
                f"prompt {name!r}: template uses variables {found} but declares {declared}",
                field="variables",
            )
        return cls(template, tuple(declared), system_prompt)

    def digest(self, target_digest: str | None = None) -> str:
        """The version's digest: its content, and the content of the model it targets."""
        parts = [self.template, *self.variables]
        if self.system_prompt or target_digest is not None:
            # Prompts without either keep the digest they had before these fields existed.
            parts += ["\x1esystem", self.system_prompt, "\x1etarget", target_digest or ""]
        return digest_bytes("\x00".join(parts).encode())

    def render(self, values: Mapping[str, str]) -> str:
        """The text sent to the model with ``values`` filled in (each declared one needed)."""
        missing = [v for v in self.variables if v not in values]
        if missing:
            raise ValidationError(
                f"prompt needs a value for variable {missing[0]!r}", field=missing[0]
            )
        body = self.template.format_map({v: values[v] for v in self.variables})
        return f"{self.system_prompt}\n\n{body}" if self.system_prompt else body

    def render_input(self, text: str, *, ref: str) -> str:
        """``text`` (a suite's question or probe) put into the prompt's one variable.

        A prompt evaluated over a suite declares exactly one variable, which receives
        each item; otherwise a ``ValidationError`` names ``ref`` and what it declares.
        """
        if len(self.variables) != 1:
            raise ValidationError(
                f"{ref} declares variables {list(self.variables)}: a prompt run over a suite "
                "declares exactly one, which receives each item",
                field="variables",
            )
        return self.render({self.variables[0]: text})


def prompt_of(asset: InputAsset) -> PromptSpec:
    """The spec of the prompt version handed to an operation under some input role."""
    if asset.asset_type != "prompt":
        raise ValidationError(
            f'input "{asset.role}" ({asset.ref}) must be a prompt version, got a '
            f"{asset.asset_type}",
            field=asset.role,
        )
    meta = asset.metadata
    return PromptSpec(
        template=str(meta["template"]),
        variables=tuple(str(v) for v in meta.get("variables", ())),
        system_prompt=str(meta.get("system_prompt", "")),
    )
