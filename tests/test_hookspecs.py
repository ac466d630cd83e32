"""Every hook spec is documented and exercised by a test of its own."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from lmops_core import hookspecs

SPECS = sorted(
    name for name, fn in vars(hookspecs).items() if callable(fn) and hasattr(fn, "lmops_spec")
)
REPO = Path(__file__).resolve().parent.parent


def test_there_is_one_spec_per_stage_and_governance_event() -> None:
    for expected in (
        "lmops_artifact_backend",
        "register_data_steps",
        "register_trainers",
        "register_compressors",
        "register_evaluators",
        "register_explainers",
        "register_deployment_targets",
        "register_monitors",
        "lmops_before_promotion",
        "lmops_after_decision",
        "register_commands",
        "register_policy_checks",
        "register_evidence_kinds",
    ):
        assert expected in SPECS


@pytest.mark.parametrize("name", SPECS)
def test_spec_is_typed_and_documented(name: str) -> None:
    fn = getattr(hookspecs, name)
    doc = inspect.getdoc(fn) or ""
    assert "Called" in doc, f"{name}: say when it is called"
    assert "Return" in doc or "return" in doc, f"{name}: say what to return"
    sig = inspect.signature(fn)
    assert sig.return_annotation is not inspect.Signature.empty
    for param in sig.parameters.values():
        assert param.annotation is not inspect.Parameter.empty, f"{name}({param.name})"
        assert param.name in doc or name.startswith("register_"), f"{name}: document {param.name}"


@pytest.mark.parametrize("name", SPECS)
def test_spec_has_a_test_of_its_own(name: str) -> None:
    sources = [
        p
        for p in [*REPO.glob("tests/**/test_*.py"), *REPO.glob("plugins/*/tests/test_*.py")]
        if p.name != Path(__file__).name
    ]
    assert any(name in p.read_text(encoding="utf-8") for p in sources), (
        f"no test mentions the hook {name}"
    )


def test_hook_reference_is_generated_and_current() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "gen_hook_docs", REPO / "scripts" / "gen_hook_docs.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    text = (REPO / "docs" / "hooks.md").read_text()
    assert text == module.render(), "docs/hooks.md is stale: run scripts/gen_hook_docs.py"
    for name in SPECS:
        assert f"## `{name}(" in text, f"{name} is missing from docs/hooks.md"
