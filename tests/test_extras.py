"""Features that need an optional extra say which one to install when it is missing.

The missing package is simulated the way Python itself spells "not installed":
``sys.modules[name] = None`` makes ``import name`` raise ``ImportError``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from lmops_core.builtins.data_steps import NearDedup, NearDedupParams
from lmops_core.datasets.readers import iter_records
from lmops_core.errors import ConfigurationError
from lmops_core.extras import EXTRAS, require


def test_require_returns_the_module_when_installed() -> None:
    assert require("pyarrow.parquet", extra="parquet", feature="x").__name__ == "pyarrow.parquet"


def test_require_refuses_a_module_the_extra_does_not_provide() -> None:
    with pytest.raises(ValueError, match="extra 'dedup' does not provide 'pyarrow'"):
        require("pyarrow", extra="dedup", feature="x")


@pytest.mark.parametrize("extra", sorted(EXTRAS))
def test_a_missing_extra_is_named_in_the_error(extra: str, monkeypatch: pytest.MonkeyPatch) -> None:
    module = EXTRAS[extra][0]
    monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(ConfigurationError, match=rf"pip install 'lmops-core\[{extra}\]'") as err:
        require(module, extra=extra, feature="the feature")
    assert err.value.details == {"extra": extra, "module": module}
    assert str(err.value).startswith(f"the feature needs the optional package '{module}'")


def test_parquet_without_pyarrow_names_the_file_and_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "train.parquet"
    pq.write_table(pa.table({"text": ["a"]}), path)
    assert [r for _, r, _ in iter_records(path)] == [{"text": "a"}]
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    with pytest.raises(
        ConfigurationError,
        match=r"reading the Parquet file train.parquet needs .*'lmops-core\[parquet\]'",
    ):
        list(iter_records(path))


def test_near_dedup_without_datasketch_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    assert NearDedup().configure(NearDedupParams(threshold=0.5).model_dump())["threshold"] == 0.5
    monkeypatch.setitem(sys.modules, "datasketch", None)
    with pytest.raises(
        ConfigurationError, match=r"the dedup-near data step needs .*'lmops-core\[dedup\]'"
    ):
        NearDedup().configure(NearDedupParams().model_dump())
