from __future__ import annotations

import pytest

from lmops_core.errors import ValidationError
from lmops_core.registry.names import VersionRef, normalize_name, parse_ref


@pytest.mark.parametrize("raw", ["my-model", "My_Model", "my%2Dmodel", "my%252Dmodel", "MY..model"])
def test_equivalent_names_normalise_alike(raw: str) -> None:
    assert normalize_name(raw) == "my-model"


@pytest.mark.parametrize("raw", ["", "-x", "a/b", "../x", "a b", "%2e%2e%2fetc", "x" * 129])
def test_invalid_names_are_refused(raw: str) -> None:
    with pytest.raises(ValidationError, match="invalid asset name"):
        normalize_name(raw)


def test_parse_ref_forms() -> None:
    assert parse_ref("model:tiny@3") == VersionRef("model", "tiny", version=3)
    assert parse_ref("tiny@champion", asset_type="model") == VersionRef(
        "model", "tiny", alias="champion"
    )
    assert parse_ref("dataset:qa") == VersionRef("dataset", "qa")
    assert str(parse_ref("dataset:qa@latest")) == "dataset:qa@latest"


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("widget:x@1", "unknown asset type 'widget'"),
        ("model:x@0", "versions start at 1"),
        ("model:x@Bad!", "invalid alias"),
    ],
)
def test_bad_refs_name_the_problem(ref: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        parse_ref(ref)


def test_ref_type_mismatch() -> None:
    with pytest.raises(ValidationError, match="names a dataset, but a model is expected"):
        parse_ref("dataset:x@1", asset_type="model")


@pytest.mark.parametrize("ref", ["model:chat@²", "model:chat@٣", "model:chat@99999999999999999999"])
def test_version_numbers_are_short_ascii(ref: str) -> None:
    with pytest.raises(ValidationError, match="a version is 1 to 9 ASCII digits"):
        parse_ref(ref)
