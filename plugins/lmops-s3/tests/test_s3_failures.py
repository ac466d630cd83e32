"""A wrong credential, a missing bucket and a server going away: one clear error each."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from lmops_s3.backend import S3ArtifactBackend
from lmops_s3.testing import MotoServer

from lmops_core.errors import ConfigurationError
from lmops_core.settings import Settings
from lmops_core.testing import write_jsonl
from lmops_core.workspace import Workspace

MiB = 1 << 20
DIALOGUE = {
    "messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello."}]
}


def test_a_wrong_secret_is_refused_naming_the_store(s3: MotoServer) -> None:
    uri = s3.fresh_uri()
    with pytest.raises(ConfigurationError, match="refused the credentials") as caught:
        S3ArtifactBackend.connect(uri, s3.settings(), session=s3.session(secret_key="wrong"))
    assert uri in str(caught.value) and f"bucket {s3.bucket!r}" in str(caught.value)
    assert caught.value.details == {"uri": uri, "bucket": s3.bucket}


def test_a_missing_bucket_is_named(s3: MotoServer) -> None:
    with pytest.raises(ConfigurationError, match="the bucket 'no-such-bucket' does not exist"):
        S3ArtifactBackend.connect("s3://no-such-bucket/x", s3.settings(), session=s3.session())


def test_the_server_going_away_mid_read_is_a_clear_error(own_server: MotoServer) -> None:
    store = S3ArtifactBackend.connect(
        own_server.fresh_uri(), own_server.settings(part_size_mib=5), session=own_server.session()
    )
    info = store.put_stream(io.BytesIO(os.urandom(24 * MiB)))
    reader = store.open(info.digest)
    assert len(reader.read(MiB)) == MiB
    own_server.kill()
    with pytest.raises(ConfigurationError, match="stopped answering") as caught:
        while reader.read(MiB):
            pass
    assert store.uri in str(caught.value) and f"read artifact {info.digest}" in str(caught.value)


def test_nothing_is_recorded_when_the_server_is_gone(
    own_server: MotoServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in own_server.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("LMOPS_S3_MAX_ATTEMPTS", "1")
    uri = own_server.fresh_uri()
    settings = Settings(
        home=tmp_path / "home",
        artifact_uri=uri,
        load_entry_points=False,
        plugins=["lmops_s3.plugin"],
    )
    data = write_jsonl(tmp_path / "chats.jsonl", [DIALOGUE])
    ws = Workspace.open(settings)
    try:
        ws.register_dataset("chats", data, shape="dialogue")
        own_server.kill()
        write_jsonl(data, [DIALOGUE, DIALOGUE])
        with pytest.raises(ConfigurationError, match="stopped answering") as caught:
            ws.register_dataset("chats", data, shape="dialogue")
        assert uri in str(caught.value)
        assert [v.version for v in ws.list_versions("dataset", "chats")] == [1]
    finally:
        ws.close()
    with pytest.raises(ConfigurationError, match=f"the artifact store {uri}"):
        Workspace.open(settings)
