"""What an evaluation suite folder references, and whether it holds code.

A suite version is the digest of its folder, so "evaluated with suite:gate@3"
is exact only if nothing the suite reads lies outside that folder. At
registration every path a suite or task file names (``task_paths`` in
``suite.yaml``; ``dataset_kwargs.data_files``/``data_dir``, a local
``dataset_path`` and ``include`` in task YAML files; the module behind a
``!function``) must be a relative path that stays inside the folder and names
a file or folder that is there. URLs are refused: their content is not pinned.

A suite holds *code* when it has Python files (lm-eval imports ``utils.py``) or
a task uses ``!function``; such a suite runs only once its version is approved
for use, and the files are listed with their digests for the evidence.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from lmops_core.errors import UnsafePathError, ValidationError
from lmops_core.safepaths import join_inside

CODE_SUFFIXES = frozenset({".py", ".pyc", ".pyo", ".pyd", ".so", ".pth"})
"""File suffixes that Python can import or execute."""

DATASET_BUILDERS = frozenset({"json", "csv", "parquet", "text", "arrow"})
"""``dataset_path`` values naming a packaged file reader; anything else must be a local path
inside the suite (a hub dataset id would load content the suite's digest does not pin)."""

_YAML_SUFFIXES = frozenset({".yaml", ".yml"})
_PATH_KWARGS = ("data_files", "data_dir")


@dataclass(frozen=True)
class _Tag:
    tag: str
    value: str


class _TagLoader(yaml.SafeLoader):
    """Safe loader that keeps ``!tag value`` scalars (lm-eval's ``!function``)."""


def _construct_tag(loader: Any, suffix: str, node: yaml.Node) -> _Tag:
    value = loader.construct_scalar(node) if isinstance(node, yaml.ScalarNode) else ""
    return _Tag("!" + suffix, str(value))


_TagLoader.add_multi_constructor("!", _construct_tag)


@dataclass
class SuiteInspection:
    """The code files of a suite folder (path and digest) and the paths it references."""

    code_files: list[dict[str, str]] = field(default_factory=list)
    references: list[dict[str, str]] = field(default_factory=list)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return f"sha256:{h.hexdigest()}"


def _load(path: Path, rel: str) -> Any:
    try:
        return yaml.load(path.read_bytes(), Loader=_TagLoader)  # noqa: S506 - safe subclass
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        raise ValidationError(
            f"suite file {rel}:{line}: invalid YAML: {exc.problem}", file=rel, line=line
        ) from exc
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ValidationError(f"suite file {rel}: invalid YAML: {exc}", file=rel) from exc


def _leaves(value: Any) -> Iterator[Any]:
    """Every value below ``value`` that is neither a list nor a mapping."""
    if isinstance(value, list):
        for v in value:
            yield from _leaves(v)
    elif isinstance(value, Mapping):
        for v in value.values():
            yield from _leaves(v)
    else:
        yield value


def _strings(value: Any) -> Iterator[str]:
    for leaf in _leaves(value):
        if isinstance(leaf, str):
            yield leaf
        elif leaf is not None:
            yield str(leaf)


def _tags(value: Any) -> Iterator[_Tag]:
    return (leaf for leaf in _leaves(value) if isinstance(leaf, _Tag))


def _inside(root: Path, base: Path, name: str, *, rel: str, fieldname: str, must: str) -> Path:
    """``name`` joined to ``base`` (a folder under ``root``), refused unless it stays in ``root``."""
    what = f"suite file {rel}: field {fieldname!r}"
    if not isinstance(name, str) or "://" in name:
        raise UnsafePathError(
            f"{what}: {name!r} is not a path inside the suite folder "
            "(URLs and other sources are not pinned by the suite's digest)",
            file=rel,
            field=fieldname,
        )
    try:
        target = join_inside(base, name, what=what)
    except UnsafePathError as exc:
        raise UnsafePathError(
            f"{exc}; every file a suite reads must be inside its folder", file=rel, field=fieldname
        ) from None
    if not target.is_relative_to(root):
        raise UnsafePathError(
            f"{what}: {name!r} resolves outside the suite folder", file=rel, field=fieldname
        )
    ok = (
        target.is_file()
        if must == "file"
        else (target.is_dir() if must == "folder" else target.exists())
    )
    if not ok:
        raise ValidationError(
            f"{what}: {name!r} is not a {must} inside the suite folder", file=rel, field=fieldname
        )
    return target


def _check_task(root: Path, path: Path, rel: str, cfg: Any, out: SuiteInspection) -> None:
    if not isinstance(cfg, Mapping):
        return
    base = path.parent
    kwargs = cfg.get("dataset_kwargs")
    if isinstance(kwargs, Mapping):
        for key in _PATH_KWARGS:
            for name in _strings(kwargs.get(key)):
                must = "file" if key == "data_files" else "folder"
                _inside(root, base, name, rel=rel, fieldname=f"dataset_kwargs.{key}", must=must)
                out.references.append({"file": rel, "field": f"dataset_kwargs.{key}", "path": name})
    dataset_path = cfg.get("dataset_path")
    if dataset_path is not None and dataset_path not in DATASET_BUILDERS:
        _inside(root, base, str(dataset_path), rel=rel, fieldname="dataset_path", must="any")
        out.references.append({"file": rel, "field": "dataset_path", "path": dataset_path})
    for name in _strings(cfg.get("include")):
        _inside(root, base, name, rel=rel, fieldname="include", must="file")
        out.references.append({"file": rel, "field": "include", "path": name})
    for tag in _tags(cfg):
        if tag.tag != "!function":
            raise ValidationError(f"suite file {rel}: unknown YAML tag {tag.tag}", file=rel)
        module, _, _ = tag.value.rpartition(".")
        if not module:
            raise ValidationError(
                f"suite file {rel}: !function {tag.value!r} must name module.function",
                file=rel,
                field="!function",
            )
        _inside(
            root,
            base,
            module.replace(".", "/") + ".py",
            rel=rel,
            fieldname="!function",
            must="file",
        )


def inspect_suite_folder(folder: Path) -> SuiteInspection:
    """Check every path the suite names stays inside ``folder``; list its code files.

    Raises :class:`UnsafePathError` or :class:`ValidationError` naming the file and field.
    """
    root = folder.resolve()
    out = SuiteInspection()
    suite_file = root / "suite.yaml"
    suite = _load(suite_file, "suite.yaml")
    if isinstance(suite, Mapping):
        for name in _strings(suite.get("task_paths")):
            _inside(root, root, name, rel="suite.yaml", fieldname="task_paths", must="folder")
            out.references.append({"file": "suite.yaml", "field": "task_paths", "path": name})
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root).as_posix()
        if path.suffix in CODE_SUFFIXES:
            out.code_files.append({"path": rel, "digest": _sha256(path)})
        elif path.suffix in _YAML_SUFFIXES and rel != "suite.yaml":
            cfg = _load(path, rel)
            _check_task(root, path, rel, cfg, out)
            if any(True for _ in _tags(cfg)):
                out.code_files.append({"path": rel, "digest": _sha256(path)})
    return out
