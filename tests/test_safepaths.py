from __future__ import annotations

import os
from pathlib import Path

import pytest

from lmops_core.errors import UnsafePathError
from lmops_core.safepaths import join_inside, safe_relative_path

ESCAPES = [
    "../x",
    "a/../../x",
    "..",
    "..\\x",
    "a\\..\\x",
    "/abs",
    "//server/share",
    "C:\\x",
    "c:/x",
    "%2e%2e%2fx",
    "%2E%2E/x",
    "..%2fx",
    "%252e%252e%252fx",
    "%25252e%25252e/x",
    "file:///etc/passwd",
    "FILE:/etc/passwd",
    "s3://bucket/x",
    "a\x00b",
    "",
]


@pytest.mark.parametrize("name", ESCAPES)
def test_escaping_names_are_refused(name: str, tmp_path: Path) -> None:
    with pytest.raises(UnsafePathError, match="refusing"):
        safe_relative_path(name)
    with pytest.raises(UnsafePathError, match="refusing"):
        join_inside(tmp_path, name)


@pytest.mark.parametrize("name", ["a", "a/b.txt", "./a/./b", "tokenizer/vocab.json"])
def test_plain_relative_names_are_accepted(name: str, tmp_path: Path) -> None:
    assert join_inside(tmp_path, name).is_relative_to(tmp_path.resolve())


def test_symlink_out_of_base_is_refused(tmp_path: Path) -> None:
    base = tmp_path / "base"
    base.mkdir()
    os.symlink(tmp_path, base / "up")
    with pytest.raises(UnsafePathError, match="resolves outside"):
        join_inside(base, "up/secret")


def test_error_names_the_reason() -> None:
    with pytest.raises(UnsafePathError, match=r"refusing path '%2e%2e%2fx': it contains a '\.\.' "):
        safe_relative_path("%2e%2e%2fx")
