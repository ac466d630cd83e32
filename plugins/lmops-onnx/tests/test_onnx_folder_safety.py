"""Loading refuses ONNX graphs whose external data points outside the model folder."""

from __future__ import annotations

import json
import os
import pickle
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from lmops_onnx.runtime import OrtCausalLM
from lmops_onnx.safety import check_onnx_folder
from onnx import TensorProto, helper, numpy_helper

from lmops_core.errors import UnsafeContentError, UnsafePathError, ValidationError

VOCAB = 6


def _write_lookup_model(folder: Path, *, location: str = "weights.data") -> np.ndarray:
    """A real one-node graph (logits = table[input_ids]) with its table stored externally."""
    folder.mkdir(parents=True, exist_ok=True)
    table = np.arange(VOCAB * VOCAB, dtype=np.float32).reshape(VOCAB, VOCAB)
    graph = helper.make_graph(
        [helper.make_node("Gather", ["table", "input_ids"], ["logits"], axis=0)],
        "lookup",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "sequence"])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", "sequence", VOCAB])],
        [numpy_helper.from_array(table, name="table")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    onnx.save_model(
        model,
        str(folder / "model.onnx"),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location=location,
        size_threshold=0,
    )
    manifest = {
        "format": "lmops-onnx/1",
        "model_file": "model.onnx",
        "inputs": [{"name": "input_ids"}],
        "outputs": [{"name": "logits"}],
        "vocab_size": VOCAB,
        "max_positions": None,
    }
    (folder / "lmops_onnx.json").write_text(json.dumps(manifest))
    return table


def _relocate(folder: Path, new_location: str) -> None:
    """Rewrite the table's external-data location without touching any data file."""
    model = onnx.load(str(folder / "model.onnx"), load_external_data=False)
    for entry in model.graph.initializer[0].external_data:
        if entry.key == "location":
            entry.value = new_location
    onnx.save(model, str(folder / "model.onnx"))


def test_a_safe_folder_loads_and_runs(tmp_path: Path) -> None:
    table = _write_lookup_model(tmp_path / "m")
    model_path, data_paths = check_onnx_folder(tmp_path / "m")
    assert model_path.name == "model.onnx"
    assert [p.name for p in data_paths] == ["weights.data"]
    logits = OrtCausalLM.from_folder(tmp_path / "m").logits(np.asarray([[2, 5]]))
    np.testing.assert_array_equal(logits[0], table[[2, 5]])


@pytest.mark.parametrize(
    "location", ["../outside.data", "sub/../../outside.data", "%2e%2e/outside.data"]
)
def test_parent_traversal_is_refused(tmp_path: Path, location: str) -> None:
    _write_lookup_model(tmp_path / "m")
    (tmp_path / "outside.data").write_bytes((tmp_path / "m" / "weights.data").read_bytes())
    _relocate(tmp_path / "m", location)
    with pytest.raises(UnsafePathError, match="external data location"):
        OrtCausalLM.from_folder(tmp_path / "m")


def test_absolute_location_is_refused(tmp_path: Path) -> None:
    _write_lookup_model(tmp_path / "m")
    outside = tmp_path / "abs.data"
    outside.write_bytes((tmp_path / "m" / "weights.data").read_bytes())
    _relocate(tmp_path / "m", str(outside))
    with pytest.raises(UnsafePathError, match="is absolute"):
        OrtCausalLM.from_folder(tmp_path / "m")


def test_symlink_out_of_the_folder_is_refused(tmp_path: Path) -> None:
    _write_lookup_model(tmp_path / "m")
    outside = tmp_path / "secret.data"
    (tmp_path / "m" / "weights.data").rename(outside)
    os.symlink(outside, tmp_path / "m" / "weights.data")
    with pytest.raises(UnsafePathError, match="resolves outside"):
        OrtCausalLM.from_folder(tmp_path / "m")


def test_symlinked_model_file_is_refused(tmp_path: Path) -> None:
    _write_lookup_model(tmp_path / "elsewhere")
    folder = tmp_path / "m"
    folder.mkdir()
    os.symlink(tmp_path / "elsewhere" / "model.onnx", folder / "model.onnx")
    with pytest.raises(UnsafePathError, match="resolves outside"):
        check_onnx_folder(folder)


def test_external_tensor_in_a_node_attribute_is_checked(tmp_path: Path) -> None:
    _write_lookup_model(tmp_path / "m")
    model = onnx.load(str(tmp_path / "m" / "model.onnx"), load_external_data=False)
    constant = helper.make_tensor("c", TensorProto.FLOAT, [1], [0.0])
    constant.data_location = TensorProto.EXTERNAL
    constant.ClearField("float_data")
    entry = constant.external_data.add()
    entry.key, entry.value = "location", "../../etc/passwd"
    model.graph.node.insert(0, helper.make_node("Constant", [], ["unused"], value=constant))
    onnx.save(model, str(tmp_path / "m" / "model.onnx"))
    with pytest.raises(UnsafePathError, match=r'tensor "c"'):
        check_onnx_folder(tmp_path / "m")


def test_missing_external_file_is_named(tmp_path: Path) -> None:
    _write_lookup_model(tmp_path / "m")
    (tmp_path / "m" / "weights.data").unlink()
    with pytest.raises(ValidationError, match="'weights.data'.*is missing"):
        check_onnx_folder(tmp_path / "m")


def test_pickle_file_in_an_onnx_folder_is_refused(tmp_path: Path) -> None:
    _write_lookup_model(tmp_path / "m")
    (tmp_path / "m" / "extra.bin").write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(UnsafeContentError, match="extra.bin"):
        OrtCausalLM.from_folder(tmp_path / "m")


def test_folder_without_manifest_is_refused(tmp_path: Path) -> None:
    _write_lookup_model(tmp_path / "m")
    (tmp_path / "m" / "lmops_onnx.json").unlink()
    with pytest.raises(ValidationError, match="no lmops_onnx.json"):
        OrtCausalLM.from_folder(tmp_path / "m")


def test_quantizing_an_unsafe_export_is_refused(
    onnx_dir: Path, tmp_path: Path, context_factory: Any
) -> None:
    from lmops_onnx.operations import OnnxInt8

    folder = tmp_path / "tampered"
    shutil.copytree(onnx_dir, folder)
    (folder / "model.onnx.data").rename(tmp_path / "model.onnx.data")
    model = onnx.load(str(folder / "model.onnx"), load_external_data=False)
    for tensor in model.graph.initializer:
        for entry in tensor.external_data:
            if entry.key == "location":
                entry.value = "../model.onnx.data"
    onnx.save(model, str(folder / "model.onnx"))
    ctx = context_factory("onnx-int8", {"model": ("model", "onnx", folder)})
    with pytest.raises(UnsafePathError, match=r"contains a '\.\.' segment"):
        OnnxInt8().run(ctx)
    assert not (ctx.workdir / "onnx-int8" / "model.onnx").exists()
