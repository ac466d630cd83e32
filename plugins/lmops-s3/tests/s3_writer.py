"""Child process of the S3 tests: stores one file in the store named by argv, then says so.

``kill`` mode prints ``sending`` once the first part of the multipart upload has
reached the server (the parent then kills it); ``race`` mode waits for ``go`` on
standard input, so two writers start the same upload at once.
"""

from __future__ import annotations

import json
import sys

from lmops_s3.backend import S3ArtifactBackend
from lmops_s3.settings import S3Settings


def main(uri: str, path: str, mode: str) -> None:
    backend = S3ArtifactBackend.connect(uri, S3Settings())
    announced = []

    def progress(sent: int) -> None:
        if mode == "kill" and not announced:
            announced.append(sent)
            print("sending", flush=True)

    if mode == "race":
        print("ready", flush=True)
        sys.stdin.readline()
    with open(path, "rb") as fh:
        info = backend.put_stream(fh, progress=progress)
    print(json.dumps({"digest": info.digest, "created": info.created}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3])
