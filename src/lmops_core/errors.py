"""The one error hierarchy of lmops.

Every error raised on purpose by lmops or a first-party plugin derives from
:class:`LmopsError` and carries a stable ``code``. The admin API maps codes to
HTTP statuses in a single exception handler; the CLI prints the message and
exits non-zero. Messages name the asset, file, field or rule at fault.
"""

from __future__ import annotations

from typing import Any, ClassVar


class LmopsError(Exception):
    """Base class of every deliberate lmops error."""

    code: ClassVar[str] = "lmops_error"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def __str__(self) -> str:
        return self.message

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly form for APIs and logs."""
        return {"code": self.code, "message": self.message, "details": self.details}


class NotFoundError(LmopsError):
    """The named asset, version, run, artifact or record does not exist."""

    code = "not_found"


class AlreadyExistsError(LmopsError):
    """Something with that (normalised) name or key already exists."""

    code = "already_exists"


class ValidationError(LmopsError):
    """Input does not have the expected shape; the message says where."""

    code = "validation_error"


class UnsafePathError(ValidationError):
    """A name or URI would resolve outside the place it must stay in."""

    code = "unsafe_path"


class UnsafeContentError(ValidationError):
    """Content refused for safety: pickle-based weights, altered bundles."""

    code = "unsafe_content"


class UnsafeDestinationError(ValidationError):
    """An outbound call (e.g. an alert webhook) would reach a refused address or scheme."""

    code = "unsafe_destination"


class IntegrityError(LmopsError):
    """Stored content or a record no longer matches its digest or signature."""

    code = "integrity_error"


class AuditChainError(IntegrityError):
    """The audit log's hash chain or its signed head does not verify."""

    code = "audit_chain_broken"


class AuditRefusedError(AuditChainError):
    """A writer refused to extend an audit chain it could not verify at its head."""

    code = "audit_chain_refused"


class PolicyError(LmopsError):
    """A policy file is malformed or cannot be evaluated (governance fails closed)."""

    code = "policy_error"


class PolicyViolationError(LmopsError):
    """A transition is blocked by a policy rule or a plugin veto."""

    code = "policy_violation"


class PermissionDeniedError(LmopsError):
    """The actor lacks the role required, or would approve their own work."""

    code = "permission_denied"


class AuthenticationError(LmopsError):
    """No valid credential was presented."""

    code = "unauthenticated"


class ConflictError(LmopsError):
    """The operation conflicts with the current state (stale request, busy)."""

    code = "conflict"


class PluginError(LmopsError):
    """A plugin failed to load, implements an unknown hook, or failed mid-stage."""

    code = "plugin_error"


class StageError(LmopsError):
    """A lifecycle stage could not run or its plugin returned an invalid result."""

    code = "stage_error"


class ConfigurationError(LmopsError):
    """Settings are inconsistent or point at something unusable."""

    code = "configuration_error"
