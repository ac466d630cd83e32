"""Banks, keyword libraries and corpora for TC260-003 assessments, generated from templates
by :mod:`lmops_safety.testing` (the compliance example builds its banks the same way).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from lmops_safety.testing import write_bank_folder, write_corpus

BankFolder = Callable[..., Path]


@pytest.fixture(scope="session")
def bank_folder(tmp_path_factory: pytest.TempPathFactory) -> BankFolder:
    """``bank_folder(name, content=2000, refusal=500, keywords=10000, broad=False)``: a bank
    folder generated from templates (``broad``: the library also lists everyday words)."""

    def make(name: str, **sizes: Any) -> Path:
        folder = tmp_path_factory.mktemp(name)
        return write_bank_folder(folder, name, generated_by="the lmops-safety tests", **sizes)

    return make


@pytest.fixture(scope="session")
def corpus_file(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """``corpus_file(records=4000, leaky_every=0)``: a ``text`` corpus; every
    ``leaky_every``-th record holds an e-mail address (personal data)."""

    def make(records: int = 4000, leaky_every: int = 0) -> Path:
        folder = tmp_path_factory.mktemp("corpus")
        return write_corpus(folder / f"corpus-{records}-{leaky_every}.jsonl", records, leaky_every)

    return make
