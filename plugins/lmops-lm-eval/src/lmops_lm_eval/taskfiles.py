"""lm-eval task folders: the shipped tasks, run-time copies with absolute data paths, digests.

lm-eval resolves a relative ``data_files`` path against the process's working
directory, not the YAML's folder. So before a run every task folder (ours or a
user's) is copied into the run's workdir — its ``.yaml``/``.yml`` and ``.py``
files, which lm-eval reads relative to the YAML — with each relative local path
in ``dataset_kwargs.data_files`` (and a relative ``dataset_path`` naming an
existing local folder) rewritten to an absolute path next to the ORIGINAL YAML.
Data files themselves are not copied.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from lmops_core.errors import UnsafePathError, ValidationError
from lmops_core.safepaths import is_inside, join_inside

BUILTIN_TASKS_DIR = Path(__file__).resolve().parent / "tasks"
"""The folder of the tasks shipped with lmops-lm-eval."""

BUILTIN_TASKS = (
    "lmops_facts_mc_en",
    "lmops_facts_mc_zh",
    "lmops_arith_gen_en",
    "lmops_arith_gen_zh",
)
"""Names of the shipped tasks (multiple choice and generation, English and Chinese)."""

_COPIED_SUFFIXES = {".yaml", ".yml", ".py"}


@dataclass(frozen=True)
class _Tagged:
    """A YAML scalar with a custom tag (lm-eval's ``!function``), kept verbatim."""

    tag: str
    value: str


# libyaml's C parser when present (several times faster); same safe constructors either way.
_SafeLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_SafeDumper: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class _Loader(_SafeLoader):  # type: ignore[misc,valid-type]
    """Safe loader that keeps ``!tag value`` scalars instead of failing on them."""


class _Dumper(_SafeDumper):  # type: ignore[misc,valid-type]
    """Safe dumper that writes :class:`_Tagged` back as ``!tag value``."""


def _construct_tagged(loader: Any, suffix: str, node: yaml.Node) -> _Tagged:
    if not isinstance(node, yaml.ScalarNode):
        raise yaml.constructor.ConstructorError(
            None, None, f"only scalar values may carry the tag !{suffix}", node.start_mark
        )
    return _Tagged("!" + suffix, str(loader.construct_scalar(node)))


_Loader.add_multi_constructor("!", _construct_tagged)
_Dumper.add_representer(_Tagged, lambda d, t: d.represent_scalar(t.tag, t.value))


@dataclass
class PreparedTasks:
    """Task folders rewritten under a workdir, ready for ``TaskManager(include_path=...)``."""

    include_paths: list[Path]
    originals: dict[Path, Path] = field(default_factory=dict)
    """Rewritten YAML path (resolved) -> the original YAML it came from."""
    roots: dict[Path, Path] = field(default_factory=dict)
    """Original YAML -> the task folder it belongs to (what its data must stay inside)."""


def _inside(value: Any, base: Path, root: Path, where: str, field_name: str) -> str:
    """``value`` (relative to ``base``) as an absolute path, refused unless inside ``root``.

    Absolute paths, ``..``, URLs and symlinks out are refused: a task may only read
    files of its own folder, which is what its digest covers.
    """
    what = f"{where}: {field_name}"
    if not isinstance(value, str):
        raise ValidationError(
            f"{what} entries must be strings, got {type(value).__name__}",
            file=where,
            field=field_name,
        )
    try:
        target = join_inside(base, value, what=what)
    except UnsafePathError as exc:
        problem = f"{exc}; task data must be a file inside the task folder"
    else:
        if target.is_relative_to(root):
            return str(target)
        problem = f"{what} {value!r} resolves outside the task folder"
    raise UnsafePathError(problem, file=where, field=field_name)


def _absolutise(value: Any, base: Path, root: Path, where: str) -> Any:
    if isinstance(value, list):
        return [_absolutise(v, base, root, where) for v in value]
    if isinstance(value, dict):
        return {k: _absolutise(v, base, root, where) for k, v in value.items()}
    if isinstance(value, str):
        return _inside(value, base, root, where, "dataset_kwargs.data_files")
    raise ValidationError(
        f"{where}: dataset_kwargs.data_files must be a string, list or mapping, "
        f"got {type(value).__name__}",
        file=where,
        field="dataset_kwargs.data_files",
    )


_PATH_KWARGS = ("data_dir",)
_BUILDERS = frozenset({"json", "csv", "parquet", "text", "arrow"})


def _rewrite_config(cfg: Any, original: Path, root: Path) -> Any:
    if not isinstance(cfg, dict):
        return cfg
    base = original.parent
    where = str(original)
    kwargs = cfg.get("dataset_kwargs")
    if isinstance(kwargs, dict):
        kwargs = dict(kwargs)
        if "data_files" in kwargs:
            kwargs["data_files"] = _absolutise(kwargs["data_files"], base, root, where)
        for key in _PATH_KWARGS:
            if key in kwargs:
                kwargs[key] = _inside(kwargs[key], base, root, where, f"dataset_kwargs.{key}")
        cfg = {**cfg, "dataset_kwargs": kwargs}
    path = cfg.get("dataset_path")
    if path is not None and path not in _BUILDERS:
        # Anything but a packaged reader is a local folder of this task (a hub id would
        # fetch content no digest pins).
        cfg = {**cfg, "dataset_path": _inside(path, base, root, where, "dataset_path")}
    if "include" in cfg:
        _inside(cfg["include"], base, root, where, "include")
    return cfg


def _load_yaml(path: Path) -> Any:
    try:
        return yaml.load(path.read_bytes(), Loader=_Loader)  # noqa: S506 - safe subclass
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        raise ValidationError(
            f"{path}:{line}: invalid YAML: {exc.problem}", file=str(path), line=line
        ) from exc
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ValidationError(f"{path}: invalid YAML: {exc}", file=str(path)) from exc


def prepare_task_folders(folders: Sequence[Path], workdir: Path) -> PreparedTasks:
    """Copy each task folder under ``workdir`` with its local data paths made absolute."""
    prepared = PreparedTasks(include_paths=[])
    for i, folder in enumerate(folders):
        folder = folder.expanduser().resolve()
        if not folder.is_dir():
            raise ValidationError(
                f'param "task_paths": task folder "{folder}" does not exist or is not a folder',
                param="task_paths",
            )
        dest_root = workdir / "lm_eval_tasks" / f"{i:02d}-{folder.name}"
        for src in sorted(folder.rglob("*")):
            if not src.is_file() or src.suffix not in _COPIED_SUFFIXES:
                continue
            if "__pycache__" in src.parts:
                continue
            dest = dest_root / src.relative_to(folder)
            dest.parent.mkdir(parents=True, exist_ok=True)
            if src.suffix == ".py":
                shutil.copyfile(src, dest)
                continue
            cfg = _rewrite_config(_load_yaml(src), src, folder)
            dest.write_text(
                yaml.dump(cfg, Dumper=_Dumper, allow_unicode=True, sort_keys=False),
                encoding="utf-8",
            )
            prepared.originals[dest.resolve()] = src
            prepared.roots[src] = folder
        prepared.include_paths.append(dest_root)
    return prepared


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _data_file_list(data_files: Any) -> list[str]:
    if isinstance(data_files, str):
        return [data_files]
    if isinstance(data_files, list):
        return [f for v in data_files for f in _data_file_list(v)]
    if isinstance(data_files, Mapping):
        return [f for v in data_files.values() for f in _data_file_list(v)]
    return []


def task_config_digest(
    yaml_path: Path, task_config: Mapping[str, Any], *, task_root: Path | None = None
) -> dict[str, Any]:
    """Digest of one task: its YAML and the local data files its final config reads.

    ``digest`` is ``sha256:`` of the sha256 hex of the YAML followed by the sha256
    hex of each local data file, in the order the config declares them — so it
    changes when the prompt, metrics or any sample changes, and not when the
    folder moves. Per-file digests come along for diagnosis.
    """
    parts = [("yaml", yaml_path.name, _sha256_file(yaml_path))]
    kwargs = task_config.get("dataset_kwargs") or {}
    root = (task_root or yaml_path.parent).resolve()
    for name in _data_file_list(kwargs.get("data_files") if isinstance(kwargs, Mapping) else None):
        path = Path(name)
        if not is_inside(root, path):
            # A config lm-eval assembled (includes, groups) must still read only task files.
            raise UnsafePathError(
                f'{yaml_path}: data file "{name}" is outside the task folder',
                file=str(yaml_path),
                field="dataset_kwargs.data_files",
            )
        if "://" in name or not path.is_file():
            raise ValidationError(
                f'{yaml_path}: data file "{name}" is not a local file',
                file=str(yaml_path),
                field="dataset_kwargs.data_files",
            )
        parts.append(("data", path.name, _sha256_file(path)))
    outer = hashlib.sha256("".join(p[2] for p in parts).encode("ascii")).hexdigest()
    return {
        "digest": f"sha256:{outer}",
        "files": [{"role": role, "name": n, "sha256": f"sha256:{d}"} for role, n, d in parts],
    }
