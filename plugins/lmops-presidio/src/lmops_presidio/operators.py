"""presidio anonymizer operators built from a :class:`GuardConfig`."""

from __future__ import annotations

import sys

from presidio_anonymizer.entities import OperatorConfig

from lmops_presidio.config import GuardConfig


def operator_config(config: GuardConfig, entity: str) -> OperatorConfig:
    """The presidio operator redacting ``entity`` under ``config``.

    ``replace`` writes ``<ENTITY>``; ``mask`` and ``hash`` map to presidio's
    operators of the same name, ``hash`` salted with the config's salt.
    """
    spec = config.operator_for(entity)
    if spec.kind == "mask":
        return OperatorConfig(
            "mask",
            {
                "masking_char": spec.masking_char,
                # presidio masks min(len(value), chars_to_mask) characters.
                "chars_to_mask": spec.chars_to_mask or sys.maxsize,
                "from_end": spec.from_end,
            },
        )
    if spec.kind == "hash":
        return OperatorConfig("hash", {"hash_type": spec.hash_type, "salt": config.salt})
    return OperatorConfig("replace", {"new_value": f"<{entity}>"})


def operator_configs(config: GuardConfig) -> dict[str, OperatorConfig]:
    """:func:`operator_config` for every entity the config detects."""
    return {name: operator_config(config, name) for name in config.active_entities}
