"""A problem found in a policy file, located by file, line, rule and condition."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from lmops_core.errors import PolicyError

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class LintIssue:
    """One problem in a policy file; ``error`` issues stop the file from loading."""

    file: str
    message: str
    line: int | None = None
    severity: Severity = "error"
    rule: str | None = None
    condition: str | None = None

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        scope = ""
        if self.rule is not None:
            scope = f"rule {self.rule!r}"
            if self.condition is not None:
                scope += f", condition {self.condition!r}"
            scope += ": "
        return f"{where}: {self.severity}: {scope}{self.message}"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly form for the CLI and API."""
        return asdict(self)


def policy_error(issues: list[LintIssue]) -> PolicyError:
    """One :class:`PolicyError` that lists every error issue, first one first."""
    errors = [issue for issue in issues if issue.severity == "error"]
    lines = "\n".join(f"  {issue}" for issue in errors)
    count = "1 error" if len(errors) == 1 else f"{len(errors)} errors"
    return PolicyError(
        f"invalid policy ({count}):\n{lines}", issues=[issue.to_dict() for issue in errors]
    )
