"""Loading a Hugging Face causal LM (merging a LoRA adapter if needed) and exporting it to ONNX.

The graph takes ``input_ids`` (batch, sequence) and returns full-sequence
``logits`` (batch, sequence, vocab), with both axes dynamic and no KV cache:
every generation step re-reads the whole window. torch's dynamo-based
exporter is used; the TorchScript exporter cannot translate ``aten::diff``,
which transformers' Llama mask code uses.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lmops_core.errors import StageError, ValidationError
from lmops_onnx.safety import MODEL_FILE, check_hf_folder

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

TORCH_KINDS = ("base", "merged", "full")
ADAPTER_KIND = "adapter"
MANIFEST_FILE = "lmops_onnx.json"
MANIFEST_FORMAT = "lmops-onnx/1"
DEFAULT_OPSET = 18


@dataclass
class LoadedModel:
    """A torch causal LM ready for export, with the folder its tokenizer comes from."""

    model: PreTrainedModel
    tokenizer_dir: Path
    merged_adapter: bool
    weights_dir: Path
    """The folder holding the full weights (the base's, for a merged adapter)."""


def _has_tokenizer(folder: Path) -> bool:
    return (folder / "tokenizer.json").is_file() or (folder / "tokenizer_config.json").is_file()


def load_causal_lm(model_dir: Path, *, kind: str, base_dir: Path | None = None) -> LoadedModel:
    """Load a model version as an fp32 torch model in eval mode.

    ``kind`` is ``base``/``merged``/``full`` (a full model folder) or
    ``adapter`` (a PEFT folder; ``base_dir`` is then required and the adapter
    is merged into the base with peft's ``merge_and_unload``).
    """
    import torch
    from transformers import AutoModelForCausalLM

    if kind not in (*TORCH_KINDS, ADAPTER_KIND):
        raise ValidationError(
            f"cannot load a model of kind {kind!r} with torch "
            f"(expected one of {', '.join((*TORCH_KINDS, ADAPTER_KIND))})"
        )
    check_hf_folder(model_dir)
    if kind == ADAPTER_KIND:
        if base_dir is None:
            raise StageError(
                'an adapter needs its base model: pass the base version under the role "base"'
            )
        check_hf_folder(base_dir)
        from peft import PeftModel

        base = AutoModelForCausalLM.from_pretrained(
            str(base_dir), dtype=torch.float32, use_safetensors=True, local_files_only=True
        )
        peft_model = PeftModel.from_pretrained(base, str(model_dir), is_trainable=False)
        model = peft_model.merge_and_unload()
        tokenizer_dir = model_dir if _has_tokenizer(model_dir) else base_dir
        weights_dir = base_dir
    else:
        model = AutoModelForCausalLM.from_pretrained(
            str(model_dir), dtype=torch.float32, use_safetensors=True, local_files_only=True
        )
        tokenizer_dir = weights_dir = model_dir
    model.eval()
    return LoadedModel(
        model=model,
        tokenizer_dir=tokenizer_dir,
        merged_adapter=kind == ADAPTER_KIND,
        weights_dir=weights_dir,
    )


def load_tokenizer(folder: Path) -> PreTrainedTokenizerBase:
    """Load the tokenizer saved in a model folder, never reaching the network."""
    from transformers import AutoTokenizer

    if not _has_tokenizer(folder):
        raise ValidationError(f"{folder}: no tokenizer files (tokenizer.json)", file=str(folder))
    return AutoTokenizer.from_pretrained(str(folder), local_files_only=True)


def _logits_module(model: PreTrainedModel) -> torch.nn.Module:
    import torch

    class LogitsOnly(torch.nn.Module):
        """``input_ids -> logits`` without cache, the one signature the runtime needs."""

        def __init__(self, inner: PreTrainedModel) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
            logits: torch.Tensor = self.inner(input_ids=input_ids, use_cache=False).logits
            return logits

    return LogitsOnly(model).eval()


def max_positions(model: PreTrainedModel) -> int | None:
    """The longest context the model's config declares, if any."""
    value = getattr(model.config, "max_position_embeddings", None)
    return int(value) if isinstance(value, int) else None


def export_onnx(
    loaded: LoadedModel,
    out_dir: Path,
    *,
    opset: int = DEFAULT_OPSET,
    source_kind: str,
) -> dict[str, Any]:
    """Export ``loaded`` into ``out_dir`` (model.onnx + model.onnx.data, tokenizer, config).

    Returns the manifest written to ``lmops_onnx.json``.
    """
    import torch

    out_dir.mkdir(parents=True, exist_ok=True)
    model = loaded.model
    vocab_size = int(model.config.vocab_size)
    # Two tokens of batch 2: example sizes of 1 would make torch.export specialise the axes.
    example = torch.zeros((2, 8), dtype=torch.long)
    dims = {0: torch.export.Dim("batch"), 1: torch.export.Dim("sequence")}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        try:
            program = torch.onnx.export(
                _logits_module(model),
                (example,),
                input_names=["input_ids"],
                output_names=["logits"],
                dynamic_shapes={"input_ids": dims},
                opset_version=opset,
                dynamo=True,
                external_data=True,
                verbose=False,
            )
        except Exception as exc:  # noqa: BLE001 - the exporter raises many internal types
            raise StageError(f"torch.onnx.export failed for {type(model).__name__}: {exc}") from exc
    if program is None:
        raise StageError("torch.onnx.export returned no program")
    program.save(str(out_dir / MODEL_FILE), external_data=True)
    strip_node_metadata(out_dir / MODEL_FILE)

    tokenizer = load_tokenizer(loaded.tokenizer_dir)
    tokenizer.save_pretrained(str(out_dir))
    model.config.save_pretrained(str(out_dir))
    if getattr(model, "generation_config", None) is not None:
        model.generation_config.save_pretrained(str(out_dir))
    manifest = {
        "format": MANIFEST_FORMAT,
        "model_file": MODEL_FILE,
        "inputs": [{"name": "input_ids", "dtype": "int64", "shape": ["batch", "sequence"]}],
        "outputs": [
            {"name": "logits", "dtype": "float32", "shape": ["batch", "sequence", vocab_size]}
        ],
        "vocab_size": vocab_size,
        "max_positions": max_positions(model),
        "kv_cache": False,
        "precision": "fp32",
        "opset": opset,
        "exporter": "torch.onnx.export(dynamo=True)",
        "torch_version": torch.__version__,
        "source_kind": source_kind,
        "merged_adapter": loaded.merged_adapter,
        "architecture": type(model).__name__,
    }
    write_manifest(out_dir, manifest)
    return manifest


def strip_node_metadata(model_path: Path) -> None:
    """Drop the exporter's per-node metadata (stack traces, module paths) from the graph.

    It names files on the exporting machine, which do not belong in a shared
    artifact, and is most of the graph file's size on small models. Only the
    graph file is rewritten: external weights are not loaded and keep their
    locations.
    """
    import onnx

    model = onnx.load(str(model_path), load_external_data=False)
    for node in model.graph.node:
        del node.metadata_props[:]
        node.doc_string = ""
    onnx.save(model, str(model_path))


def write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    """Write ``lmops_onnx.json`` describing the graph's inputs and outputs."""
    (folder / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")


def read_manifest(folder: Path) -> dict[str, Any]:
    """Read and check ``lmops_onnx.json`` of an exported folder."""
    path = folder / MANIFEST_FILE
    if not path.is_file():
        raise ValidationError(
            f"{folder}: no {MANIFEST_FILE}; export the model with lmops-onnx first",
            file=str(folder),
        )
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValidationError(f"{path}: not valid JSON ({exc.msg})", file=str(path)) from exc
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        raise ValidationError(
            f'{path}: field "format" must be {MANIFEST_FORMAT!r}', file=str(path), field="format"
        )
    for key in ("inputs", "outputs"):
        entries = manifest.get(key)
        if (
            not isinstance(entries, list)
            or not entries
            or not isinstance(entries[0], dict)
            or not isinstance(entries[0].get("name"), str)
        ):
            raise ValidationError(
                f'{path}: field "{key}" must list named tensors', file=str(path), field=key
            )
    return manifest
