"""Checks run on a model folder before any library is allowed to open it.

An ONNX graph names its external weight files by relative ``location``
strings; onnxruntime follows them wherever they point. A graph with
``../../etc/shadow`` or ``/home/x/.ssh/id_rsa`` as location would make the
runtime read files outside the version's folder, so every location is checked
with the core's path rules *before* the file reaches onnxruntime. Hugging Face
folders are checked for pickle content, which torch could execute on load.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from lmops_core.errors import UnsafePathError, ValidationError
from lmops_core.safepaths import join_inside
from lmops_core.weights import refuse_pickle

if TYPE_CHECKING:
    import onnx

MODEL_FILE = "model.onnx"


def _graph_tensors(graph: onnx.GraphProto) -> Iterator[onnx.TensorProto]:
    """Every tensor a graph can carry: initializers, sparse ones, node attributes, subgraphs."""
    yield from graph.initializer
    for sparse in graph.sparse_initializer:
        yield sparse.values
        yield sparse.indices
    for node in graph.node:
        yield from _node_tensors(node)


def _node_tensors(node: onnx.NodeProto) -> Iterator[onnx.TensorProto]:
    for attr in node.attribute:
        if attr.HasField("t"):
            yield attr.t
        yield from attr.tensors
        if attr.HasField("sparse_tensor"):
            yield attr.sparse_tensor.values
            yield attr.sparse_tensor.indices
        for sparse in attr.sparse_tensors:
            yield sparse.values
            yield sparse.indices
        if attr.HasField("g"):
            yield from _graph_tensors(attr.g)
        for sub in attr.graphs:
            yield from _graph_tensors(sub)


def model_tensors(model: onnx.ModelProto) -> Iterator[onnx.TensorProto]:
    """Every tensor of a model, including those inside local functions."""
    yield from _graph_tensors(model.graph)
    for function in model.functions:
        for node in function.node:
            yield from _node_tensors(node)


def external_data_locations(model: onnx.ModelProto, model_path: Path) -> dict[str, list[str]]:
    """Map each external-data ``location`` to the tensors stored there.

    Raises :class:`ValidationError` for an external tensor without a location.
    """
    import onnx

    locations: dict[str, list[str]] = {}
    for tensor in model_tensors(model):
        if tensor.data_location != onnx.TensorProto.EXTERNAL:
            continue
        entries = {entry.key: entry.value for entry in tensor.external_data}
        location = entries.get("location")
        if not location:
            raise ValidationError(
                f'{model_path}: tensor "{tensor.name}" is marked external but names no location',
                file=str(model_path),
            )
        locations.setdefault(location, []).append(tensor.name)
    return locations


def check_onnx_folder(folder: Path, model_file: str = MODEL_FILE) -> tuple[Path, list[Path]]:
    """Check an ONNX model folder and return ``(model_path, external_data_paths)``.

    The model file itself and every external-data location must resolve inside
    ``folder`` (no ``..``, no absolute path, no URI, no symlink pointing out),
    and the external files must exist. Other files in the folder (tokenizer,
    config) must not hold pickle data. Raises :class:`UnsafePathError`,
    :class:`UnsafeContentError` or :class:`ValidationError` naming the file.
    """
    import onnx

    folder = Path(folder)
    if not folder.is_dir():
        raise ValidationError(f"{folder}: an ONNX model version must be a folder", file=str(folder))
    model_path = join_inside(folder, model_file, what="ONNX model file")
    if not model_path.is_file():
        raise ValidationError(f"{folder}: no {model_file} in the model folder", file=str(folder))
    try:
        # load_external_data=False: read only the graph, so nothing outside is opened yet.
        model = onnx.load(str(model_path), load_external_data=False)
    except Exception as exc:  # noqa: BLE001 - the protobuf parser raises several types
        raise ValidationError(f"{model_path}: not a readable ONNX model ({exc})") from exc
    data_paths: list[Path] = []
    for location, tensors in external_data_locations(model, model_path).items():
        what = f'external data location of tensor "{tensors[0]}" in {model_path.name}'
        try:
            data_path = join_inside(model_path.parent, location, what=what)
            # The model file's folder is inside ``folder``; check against ``folder`` too.
            data_path = join_inside(folder, str(data_path.relative_to(folder.resolve())), what=what)
        except ValueError as exc:
            raise UnsafePathError(f"refusing {what} {location!r}: it is outside {folder}") from exc
        if not data_path.is_file():
            raise ValidationError(
                f'{model_path}: external data file {location!r} (tensor "{tensors[0]}") is missing',
                file=str(model_path),
            )
        data_paths.append(data_path)
    _refuse_pickles(folder, skip={model_path, *data_paths})
    return model_path, data_paths


def check_hf_folder(folder: Path) -> None:
    """Check a Hugging Face model or adapter folder before torch or transformers open it.

    Refuses a missing folder, files that are symlinks pointing outside, and any
    file holding pickle data (``pytorch_model.bin``, ``*.pt``... whatever the name).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ValidationError(f"{folder}: a model version must be a folder", file=str(folder))
    _refuse_pickles(folder, skip=set())


def _refuse_pickles(folder: Path, *, skip: set[Path]) -> None:
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix()
        # join_inside resolves symlinks: a link pointing out of the folder is refused here.
        resolved = join_inside(folder, rel, what="file in model folder")
        # Raw external tensors are arbitrary bytes, never unpickled: sniffing them only
        # risks false positives.
        if resolved in skip or not resolved.is_file():
            continue
        refuse_pickle(resolved, display_name=str(path))
