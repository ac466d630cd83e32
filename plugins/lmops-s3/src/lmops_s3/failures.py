"""What the object store's failures mean to an lmops user: one clear error each.

A wrong credential, a missing bucket and a server that stops answering (before
or in the middle of a transfer) all become a
:class:`~lmops_core.errors.ConfigurationError` that names the store's URI and
bucket: the store is set up wrong or unreachable, and the operation that needed
it stops before it records anything.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from lmops_core.errors import ConfigurationError, LmopsError

_CREDENTIAL_CODES = {
    "403",
    "AccessDenied",
    "ExpiredToken",
    "InvalidAccessKeyId",
    "InvalidClientTokenId",
    "InvalidToken",
    "SignatureDoesNotMatch",
}
_MISSING_BUCKET_CODES = {"NoSuchBucket"}
#: The codes of "no such object" (a HEAD answers a bare 404).
MISSING_CODES = {"404", "NoSuchKey", "NotFound"}


def error_code(exc: BaseException) -> str:
    """The S3 error code of a botocore ``ClientError`` ("" for anything else)."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return ""
    return str(response.get("Error", {}).get("Code", ""))


@contextlib.contextmanager
def translated(
    uri: str, bucket: str, endpoint: str, action: str, *, missing_means_bucket: bool = False
) -> Iterator[None]:
    """Run a block of S3 calls; turn the client's failures into one lmops error.

    With ``missing_means_bucket`` (a call on the bucket itself), a bare 404 means the
    bucket is missing: HEAD answers carry no error code.
    """
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        NoCredentialsError,
        PartialCredentialsError,
    )
    from urllib3.exceptions import HTTPError

    where = f"the artifact store {uri} (bucket {bucket!r} at {endpoint})"
    try:
        yield
    except LmopsError:
        raise
    except ClientError as exc:
        code = error_code(exc)
        if code in _CREDENTIAL_CODES:
            raise ConfigurationError(
                f"{where} refused the credentials ({code}) when asked to {action}: check "
                "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE",
                uri=uri,
                bucket=bucket,
            ) from exc
        if code in _MISSING_BUCKET_CODES or (missing_means_bucket and code in MISSING_CODES):
            raise ConfigurationError(
                f"{where}: the bucket {bucket!r} does not exist (found when asked to {action})",
                uri=uri,
                bucket=bucket,
            ) from exc
        raise ConfigurationError(
            f"{where} failed to {action}: {exc}", uri=uri, bucket=bucket
        ) from exc
    except (NoCredentialsError, PartialCredentialsError) as exc:
        raise ConfigurationError(
            f"no usable S3 credentials for {where}: set AWS_ACCESS_KEY_ID and "
            f"AWS_SECRET_ACCESS_KEY, or AWS_PROFILE ({exc})",
            uri=uri,
            bucket=bucket,
        ) from exc
    except (BotoCoreError, HTTPError, ConnectionError, TimeoutError) as exc:
        raise ConfigurationError(
            f"{where} stopped answering when asked to {action}: {exc}",
            uri=uri,
            bucket=bucket,
        ) from exc
