"""Where packs come from: the ``packs/`` folder beside the policies, and plugins.

A plugin ships a pack by implementing ``register_compliance_packs(register)`` and
calling ``register(path)`` with the pack file's path. Two packs with one ``id``
are an error naming both files, so a name always means one file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lmops_core.compliance.loader import CompliancePack, load_pack
from lmops_core.errors import NotFoundError, PluginError, PolicyError
from lmops_core.plugins import PluginHost, call_impl
from lmops_core.policy.loader import POLICY_SUFFIXES

#: The folder, inside the policy folder, that holds the packs shipped with the policies.
PACKS_FOLDER = "packs"


@dataclass(frozen=True)
class PackSource:
    """A pack file and who offers it (``policies`` or a plugin's name)."""

    path: Path
    offered_by: str


def pack_sources(policies_dir: Path, plugins: PluginHost) -> list[PackSource]:
    """Every pack file on offer: the policy folder's ``packs/`` first, then plugins'."""
    folder = policies_dir / PACKS_FOLDER
    found = []
    if folder.is_dir():
        found = [
            PackSource(p, "policies")
            for p in sorted(folder.iterdir())
            if p.is_file() and p.suffix in POLICY_SUFFIXES
        ]
    caller = plugins.pm.hook.register_compliance_packs
    for impl in reversed(caller.get_hookimpls()):
        offered: list[PackSource] = []

        def register(
            path: object, _into: list[PackSource] = offered, _by: str = impl.plugin_name
        ) -> None:
            if not isinstance(path, str | Path) or not Path(path).is_file():
                raise PluginError(
                    f'plugin "{_by}" registered {path!r} as a compliance pack; expected the '
                    "path of a pack file that exists",
                    plugin=_by,
                )
            _into.append(PackSource(Path(path), _by))

        call_impl(impl, "register_compliance_packs", register=register)
        found.extend(offered)
    return found


def installed_packs(policies_dir: Path, plugins: PluginHost) -> dict[str, CompliancePack]:
    """Every pack on offer, loaded and keyed by id; a broken or doubled pack raises."""
    packs: dict[str, CompliancePack] = {}
    for source in pack_sources(policies_dir, plugins):
        pack = load_pack(source.path)
        prior = packs.get(pack.id)
        if prior is not None:
            raise PolicyError(
                f"two compliance packs are named {pack.id!r}: {prior.path} and {source.path}"
            )
        packs[pack.id] = pack
    return packs


def find_pack(policies_dir: Path, plugins: PluginHost, name: str) -> CompliancePack:
    """The pack ``name`` (an installed pack's id, or a pack file's path)."""
    if Path(name).suffix in POLICY_SUFFIXES and Path(name).is_file():
        return load_pack(name)
    packs = installed_packs(policies_dir, plugins)
    if name not in packs:
        have = ", ".join(sorted(packs)) or "none installed"
        raise NotFoundError(f"no compliance pack named {name!r} (packs: {have})")
    return packs[name]


__all__ = ["PACKS_FOLDER", "PackSource", "find_pack", "installed_packs", "pack_sources"]
