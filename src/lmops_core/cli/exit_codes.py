"""The exit status of every ``lmops`` command: one table, so scripts can branch on the cause.

Errors of the :mod:`lmops_core.errors` hierarchy map to a code by class
(:func:`exit_code_for`); commands that report a finding rather than an error
(a broken audit chain, a promotion the policy blocks, a monitoring breach) exit
with the code of that finding. Click's own usage errors (a missing argument, an
unknown option or option value) exit 2, which is also the code of invalid input.
"""

from __future__ import annotations

from enum import IntEnum

from lmops_core.errors import (
    AlreadyExistsError,
    AuthenticationError,
    ConfigurationError,
    ConflictError,
    IntegrityError,
    LmopsError,
    NotFoundError,
    PermissionDeniedError,
    PolicyError,
    PolicyViolationError,
    ValidationError,
)


class ExitCode(IntEnum):
    """What an ``lmops`` exit status means."""

    #: Done.
    OK = 0
    #: Any other failure (a plugin or stage failed, an unexpected condition).
    ERROR = 1
    #: Bad input: a usage error, an unknown option value, a file, field or policy file at fault.
    INVALID_INPUT = 2
    #: The store, asset, version, request, run or record named does not exist.
    NOT_FOUND = 3
    #: Refused by policy: a gate, a veto, a revoked approval; `policy explain` found it blocked.
    POLICY_REFUSED = 4
    #: No valid credential, or the actor lacks the role (or would approve their own work).
    PERMISSION_DENIED = 5
    #: Stored content, the audit chain or a signature does not verify.
    INTEGRITY = 6
    #: The operation conflicts with the current state (already exists, stale, busy).
    CONFLICT = 7
    #: A monitoring check found its rules breached (`monitor run|watch`).
    MONITOR_BREACH = 8
    #: A pipeline stopped to wait for people's decision on a request (`lmops run`).
    WAITING = 9


# Most specific first: subclasses precede their bases.
_BY_CLASS: tuple[tuple[type[LmopsError], ExitCode], ...] = (
    (NotFoundError, ExitCode.NOT_FOUND),
    (PolicyViolationError, ExitCode.POLICY_REFUSED),
    (AuthenticationError, ExitCode.PERMISSION_DENIED),
    (PermissionDeniedError, ExitCode.PERMISSION_DENIED),
    (IntegrityError, ExitCode.INTEGRITY),
    (AlreadyExistsError, ExitCode.CONFLICT),
    (ConflictError, ExitCode.CONFLICT),
    (ValidationError, ExitCode.INVALID_INPUT),
    (PolicyError, ExitCode.INVALID_INPUT),
    (ConfigurationError, ExitCode.INVALID_INPUT),
)


def exit_code_for(exc: LmopsError) -> ExitCode:
    """The exit status for an error of the lmops hierarchy (``ERROR`` when unclassified)."""
    for cls, code in _BY_CLASS:
        if isinstance(exc, cls):
            return code
    return ExitCode.ERROR


def exit_code_meaning(code: ExitCode) -> str:
    """What ``code`` means, in a few words."""
    return _DOCS[code]


def exit_codes_help() -> str:
    """The exit codes, one per line, for ``lmops --help`` (docs/cli.md has them as a table)."""
    return "\n".join(f"{c.value}  {c.name.lower().replace('_', '-')}: {_DOCS[c]}" for c in ExitCode)


_DOCS: dict[ExitCode, str] = {
    ExitCode.OK: "done",
    ExitCode.ERROR: "any other failure (a plugin or stage failed)",
    ExitCode.INVALID_INPUT: "bad input: usage error, unknown option value, a file, field or "
    "policy file at fault",
    ExitCode.NOT_FOUND: "the store or the thing named does not exist",
    ExitCode.POLICY_REFUSED: "refused by policy (a gate, a veto, a revoked approval; "
    "`policy explain` found the promotion blocked)",
    ExitCode.PERMISSION_DENIED: "no valid credential, or a role is missing",
    ExitCode.INTEGRITY: "content, the audit chain or a signature does not verify",
    ExitCode.CONFLICT: "conflicts with the current state (already exists, stale, busy)",
    ExitCode.MONITOR_BREACH: "a monitoring check found its rules breached",
    ExitCode.WAITING: "a pipeline stopped to wait for people's decision on a request "
    "(`lmops run FILE --resume` after it)",
}
