"""Bundles as ``.tar`` archives: written plainly, read with every member inspected.

Extraction never uses ``extractall``: each ``TarInfo`` is checked first. Only
regular files and directories pass; symbolic links, hard links, devices and
FIFOs are refused, and so are absolute names, ``..`` segments and duplicates.
"""

from __future__ import annotations

import shutil
import tarfile
from pathlib import Path

from lmops_core.errors import UnsafeContentError, UnsafePathError
from lmops_core.safepaths import join_inside, safe_relative_path


def write_tar(folder: Path, archive: Path) -> Path:
    """Pack a bundle folder into ``archive`` (uncompressed tar, sorted, no owner names)."""

    def clean(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        return info

    with tarfile.open(archive, "w", format=tarfile.PAX_FORMAT) as tf:
        for path in sorted(folder.rglob("*")):
            if path.is_file() and not path.is_symlink():
                tf.add(
                    path, arcname=path.relative_to(folder).as_posix(), recursive=False, filter=clean
                )
    return archive


def _kind(info: tarfile.TarInfo) -> str:
    if info.issym():
        return "a symbolic link"
    if info.islnk():
        return "a hard link"
    if info.ischr() or info.isblk():
        return "a device"
    if info.isfifo():
        return "a FIFO"
    return f"of type {info.type!r}"


def extract_tar(archive: Path, dest: Path) -> Path:
    """Extract ``archive`` into the empty folder ``dest``, refusing any unsafe member."""
    dest.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(archive, "r:") as tf:
            infos = tf.getmembers()
            seen: set[str] = set()
            # Inspect everything before writing anything.
            for info in infos:
                if not (info.isreg() or info.isdir()):
                    raise UnsafeContentError(
                        f"{archive}: member {info.name!r} is "
                        f"{_kind(info)}; bundles hold regular files only",
                        file=info.name,
                    )
                name = str(safe_relative_path(info.name, what=f"{archive.name} member"))
                if info.isreg():
                    if name in seen:
                        raise UnsafeContentError(
                            f"{archive}: member {name!r} appears twice", file=name
                        )
                    seen.add(name)
            for info in infos:
                if not info.isreg():
                    continue
                target = join_inside(dest, info.name, what=f"{archive.name} member")
                target.parent.mkdir(parents=True, exist_ok=True)
                source = tf.extractfile(info)
                if source is None:
                    raise UnsafeContentError(
                        f"{archive}: member {info.name!r} has no data", file=info.name
                    )
                with source, open(target, "xb") as out:
                    shutil.copyfileobj(source, out)
    except tarfile.TarError as exc:
        shutil.rmtree(dest, ignore_errors=True)
        raise UnsafeContentError(
            f"{archive}: not a readable tar archive ({exc})", file=str(archive)
        ) from exc
    except (UnsafePathError, UnsafeContentError, OSError):
        shutil.rmtree(dest, ignore_errors=True)
        raise
    return dest
