"""Sections plugins add to the validation report, collected and checked.

Each implementation of ``lmops_report_sections`` is called with the report's
facts; what it returns is checked (a list of
:class:`~lmops_core.reports.document.ReportSection`, unique keys, an ``after``
that names a core section, blocks the renderers know) and a plugin that
raises or returns anything else fails the report with its name, so a broken
plugin never yields a report that silently lacks its section.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, get_args

from lmops_core.errors import PluginError
from lmops_core.reports.document import Block, ReportSection
from lmops_core.reports.model import ReportFacts
from lmops_core.reports.sections import SECTIONS

if TYPE_CHECKING:
    from lmops_core.plugins import PluginHost

_BLOCK_TYPES = get_args(Block)
HOOK = "lmops_report_sections"


def plugin_sections(host: PluginHost, facts: ReportFacts) -> list[ReportSection]:
    """Every plugin's sections for ``facts``, checked, in plugin order."""
    core = {key for key, _ in SECTIONS}
    seen: dict[str, str] = {}
    out: list[ReportSection] = []
    for impl in reversed(getattr(host.pm.hook, HOOK).get_hookimpls()):
        plugin = impl.plugin_name
        try:
            returned: Any = impl.function(**{a: facts for a in impl.argnames if a == "facts"})
        except PluginError:
            raise
        except Exception as exc:  # noqa: BLE001 - name the plugin that broke
            raise PluginError(
                f'plugin "{plugin}" failed in {HOOK}: {type(exc).__name__}: {exc}', plugin=plugin
            ) from exc
        if returned is None:
            continue
        if not isinstance(returned, list | tuple):
            raise PluginError(
                f'plugin "{plugin}" returned {type(returned).__name__} from '
                f"{HOOK}; expected a list of ReportSection",
                plugin=plugin,
            )
        for section in returned:
            _check(section, plugin, core, seen)
            seen[section.key] = plugin
            out.append(section)
    return out


def _check(section: Any, plugin: str, core: set[str], seen: dict[str, str]) -> None:
    where = f'plugin "{plugin}" ({HOOK})'
    if not isinstance(section, ReportSection):
        raise PluginError(f"{where} returned {section!r}; expected a ReportSection", plugin=plugin)
    if section.key in core or section.key in seen:
        owner = "the core" if section.key in core else f'plugin "{seen[section.key]}"'
        raise PluginError(
            f'{where}: section key "{section.key}" is already used by {owner}', plugin=plugin
        )
    if section.after not in core:
        raise PluginError(
            f'{where}: section "{section.key}" follows "{section.after}", which '
            f"is not a core section ({', '.join(sorted(core))})",
            plugin=plugin,
        )
    for block in section.blocks:
        if not isinstance(block, _BLOCK_TYPES):
            raise PluginError(
                f'{where}: section "{section.key}" holds {block!r}, not a '
                "report block (Text, Table, Tree, Graph, Series)",
                plugin=plugin,
            )


__all__ = ["plugin_sections"]
