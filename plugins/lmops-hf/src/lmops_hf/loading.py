"""Opening model folders safely: safetensors only unless the caller trusts pickle."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lmops_core.errors import UnsafeContentError, ValidationError
from lmops_core.weights import refuse_pickle


def check_model_folder(folder: Path, *, allow_pickle: bool = False, role: str = "model") -> None:
    """Refuse a folder that is missing, has no config, or holds pickle-based files.

    A ``*.safetensors`` file must really parse as safetensors (a renamed pickle
    is refused); every other file, whatever its name, is checked with
    :func:`lmops_core.weights.refuse_pickle` (a pickle named ``*.json`` is still one).
    """
    from safetensors import safe_open

    if not folder.is_dir():
        raise ValidationError(f"{role}: model folder not found: {folder}", file=str(folder))
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        if path.suffix == ".safetensors":
            try:
                with safe_open(str(path), framework="pt"):
                    pass
            except Exception as exc:  # safetensors raises several types for a bad header
                raise UnsafeContentError(
                    f"{role}: {path} is not a valid safetensors file ({exc})", file=str(path)
                ) from exc
        else:
            refuse_pickle(path, display_name=f"{role}: {path}", allow=allow_pickle)


def has_safetensors(folder: Path) -> bool:
    """True when the folder holds safetensors weights."""
    return any(folder.glob("*.safetensors"))


def load_tokenizer(folder: Path, *, role: str = "model") -> Any:
    """The folder's tokenizer; it must carry a chat template (training and generation use it)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    if not getattr(tokenizer, "chat_template", None):
        raise ValidationError(
            f"{role}: tokenizer in {folder} has no chat template", file=str(folder)
        )
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_base_model(folder: Path, *, allow_pickle: bool = False, role: str = "base") -> Any:
    """A causal LM from a base/merged/full folder, float32 on CPU, after the pickle check."""
    from transformers import AutoModelForCausalLM

    if (folder / "adapter_config.json").exists():
        raise ValidationError(
            f"{role}: {folder} is a PEFT adapter, not a full model; pass it with its base",
            file=str(folder),
        )
    check_model_folder(folder, allow_pickle=allow_pickle, role=role)
    if not (folder / "config.json").is_file():
        raise ValidationError(f"{role}: {folder} has no config.json", file=str(folder))
    use_safetensors = has_safetensors(folder)
    if not use_safetensors and not allow_pickle:
        raise UnsafeContentError(
            f"{role}: {folder} holds no safetensors weights; convert them, or pass "
            "allow_pickle=True if you trust the source",
            file=str(folder),
        )
    return AutoModelForCausalLM.from_pretrained(
        str(folder), use_safetensors=use_safetensors, dtype="float32"
    )
