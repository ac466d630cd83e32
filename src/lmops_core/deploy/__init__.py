"""Deployment bundles: signed, verifiable packages of an approved model version.

``create_bundle`` packages a version approved into a stage under the current
policy; ``load_bundle`` verifies a bundle (signature, every digest, no unsafe
member, and that its approval still stands) before handing out its plaintext
files. Keys live in :class:`KeyStore`.
"""

from __future__ import annotations

from lmops_core.deploy.create import BundleInfo, create_bundle
from lmops_core.deploy.eligibility import ApprovalRecord, check_deployable
from lmops_core.deploy.encryption import load_encryption_key
from lmops_core.deploy.keys import KeyInfo, KeyStore, load_public_key_file
from lmops_core.deploy.liveness import (
    DEFAULT_VALIDITY,
    Standing,
    check_standing,
    open_reachable_store,
)
from lmops_core.deploy.load import VerifiedBundle, load_bundle

__all__ = [
    "DEFAULT_VALIDITY",
    "ApprovalRecord",
    "BundleInfo",
    "KeyInfo",
    "KeyStore",
    "Standing",
    "VerifiedBundle",
    "check_deployable",
    "check_standing",
    "create_bundle",
    "load_bundle",
    "load_encryption_key",
    "load_public_key_file",
    "open_reachable_store",
]
