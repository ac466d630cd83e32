"""Training data is read from either layout of a dataset version: one JSONL file or partitions."""

from __future__ import annotations

from pathlib import Path

import pytest
from lmops_hf.records import read_records

from lmops_core.datasets.partitions import write_partition
from lmops_core.errors import ValidationError
from tests.conftest import write_jsonl

ROWS = [{"prompt": f"What is {i} + 1?", "response": f"It is {i + 1}."} for i in range(7)]


def test_partitions_give_the_records_of_the_file_in_order(tmp_path: Path) -> None:
    one_file = read_records(write_jsonl(tmp_path / "all.jsonl", ROWS), "instruction")
    folder = tmp_path / "parts"
    write_partition(ROWS[:3], folder / "part-0.parquet")
    write_partition(ROWS[3:], folder / "part-1.parquet")
    assert read_records(folder, "instruction") == one_file == ROWS


def test_a_bad_record_names_its_partition_and_row(tmp_path: Path) -> None:
    folder = tmp_path / "parts"
    write_partition(ROWS[:2], folder / "part-0.parquet")
    write_partition([ROWS[2], {"prompt": "no answer"}], folder / "part-1.parquet")
    with pytest.raises(ValidationError, match=r"part-1\.parquet:2: missing field 'response'"):
        read_records(folder, "instruction")
