"""``lmops policy|promote|requests|revoke|users|tokens``: governance from the shell."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from lmops_core.cli.choices import GovernedStage, Role, StatusFilter
from lmops_core.cli.common import (
    JsonOpt,
    console,
    err_console,
    open_workspace,
    print_json,
    read_workspace,
    table,
)
from lmops_core.cli.exit_codes import ExitCode
from lmops_core.cli.json_shapes import (
    lint_issue_json,
    plain,
    request_json,
    request_page_json,
    version_json,
)
from lmops_core.vocabulary import ROLES

if TYPE_CHECKING:
    from lmops_core.governance.schemas import ApprovalRequestPublic

policy_app = typer.Typer(
    help="Check policy files and explain how they judge a promotion.", no_args_is_help=True
)
requests_app = typer.Typer(
    help="Review promotion requests: list, show, approve, reject.", no_args_is_help=True
)
users_app = typer.Typer(
    help="Grant and revoke roles (admins only, once an admin exists).", no_args_is_help=True
)
tokens_app = typer.Typer(
    help="Create, list and revoke admin-API bearer tokens.", no_args_is_help=True
)


def _full_ref(ref: str, default_type: str = "model") -> str:
    return ref if ":" in ref.split("@")[0] else f"{default_type}:{ref}"


@policy_app.command("lint")
def policy_lint(
    files: Annotated[list[Path], typer.Argument(help="Policy files or folders.", exists=True)],
    as_json: JsonOpt = False,
) -> None:
    """Validate policy files: schema, unknown keys, CEL that does not compile; exit 2 on error."""
    from lmops_core.plugins import load_plugins
    from lmops_core.policy import lint
    from lmops_core.settings import get_settings

    host = load_plugins(get_settings())
    issues = lint(
        files,
        functions=list(host.policy_checks),
        evidence_kinds={name: dict(reg.value.metrics) for name, reg in host.evidence_kinds.items()},
        roles=ROLES,
    )
    errors = sum(1 for i in issues if i.severity == "error")
    if as_json:
        print_json(
            {
                "ok": not errors,
                "paths": [str(f) for f in files],
                "errors": errors,
                "warnings": len(issues) - errors,
                "issues": [lint_issue_json(i) for i in issues],
            }
        )
        if errors:
            raise typer.Exit(ExitCode.INVALID_INPUT)
        return
    for issue in issues:
        (err_console if issue.severity == "error" else console).print(
            str(issue), highlight=False, markup=False
        )
    if errors:
        err_console.print(f"[red]{errors} error(s)[/]")
        raise typer.Exit(ExitCode.INVALID_INPUT)
    console.print(f"[green]{len(files)} path(s) clean[/] ({len(issues)} warning(s))")


@policy_app.command("explain")
def policy_explain(
    version: Annotated[str, typer.Option(help="MODEL@N (or TYPE:NAME@N).")],
    to: Annotated[GovernedStage, typer.Option(help="Target stage.")],
    as_json: JsonOpt = False,
) -> None:
    """Dry run: every rule that governs the promotion, pass/fail/missing, and why.

    Exits 4 (refused by policy) when the promotion would be blocked."""
    from lmops_core.policy import explain_text

    with read_workspace() as ws:
        evaluation = ws.governance.explain(_full_ref(version), to=to)
    if as_json:
        print_json(plain(evaluation.model_dump(mode="json")))
    else:
        console.print(explain_text(evaluation), highlight=False, markup=False)
    if not evaluation.allowed:
        raise typer.Exit(ExitCode.POLICY_REFUSED)


def promote(
    ref: Annotated[str, typer.Argument(help="TYPE:NAME@N")],
    to: Annotated[GovernedStage, typer.Option(help="Target stage.")],
    as_json: JsonOpt = False,
) -> None:
    """Request promotion of a version; refused at once with reasons if a hard gate fails
    (exit 4). Prints the request (pending, or approved when no approval is required)."""
    with open_workspace() as ws:
        req = ws.governance.request_promotion(ref, to=to)
    if as_json:
        print_json(request_json(req))
        if req.status not in ("approved", "pending"):
            raise typer.Exit(ExitCode.POLICY_REFUSED)
        return
    if req.status == "approved":
        console.print(f"{req.ref} promoted to {req.target_stage} (no approvals required)")
        return
    if req.status != "pending":
        console.print(f"{req.ref} was not promoted to {req.target_stage}: {req.reason}")
        raise typer.Exit(ExitCode.POLICY_REFUSED)
    needs = ", ".join(f"{n} {r}" for r, n in req.required_approvals.items())
    console.print(
        f"request [bold]{req.id}[/] pending: {req.ref} -> {req.target_stage}; "
        f"needs {needs}; expires {req.expires_at:%Y-%m-%d %H:%M} UTC",
        highlight=False,
    )


def revoke(
    ref: str,
    stage: Annotated[GovernedStage, typer.Option(help="Stage to leave.")],
    reason: Annotated[str, typer.Option(help="Why (recorded in the audit log).")],
    as_json: JsonOpt = False,
) -> None:
    """Take a version out of a stage (monitoring breach, incident); --json prints the version."""
    with open_workspace() as ws:
        ws.governance.revoke(ref, stage=stage, reason=reason)
        version = ws.get(_full_ref(ref))
    if as_json:
        print_json(version_json(version))
    else:
        console.print(f"{ref} left {stage}", highlight=False)


def revalidate(
    ref: Annotated[str, typer.Argument(help="TYPE:NAME@N")],
    comment: Annotated[str, typer.Option(help="Why it is fit again (audited).")],
    as_json: JsonOpt = False,
) -> None:
    """Clear revalidation-required after a revocation (validators; needs new evidence)."""
    with open_workspace() as ws:
        ws.governance.revalidate(ref, comment=comment)
        version = ws.get(_full_ref(ref))
    if as_json:
        print_json(version_json(version))
    else:
        console.print(f"{ref} revalidated: it may be requested for a stage again", highlight=False)


@requests_app.command("list")
def requests_list(
    status: Annotated[
        StatusFilter, typer.Option(help="Only requests with this status; 'all' for every request.")
    ] = "pending",
    limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
    offset: Annotated[int, typer.Option(min=0)] = 0,
    as_json: JsonOpt = False,
) -> None:
    """List promotion requests (pending by default; --status all for every one)."""
    wanted = None if status == "all" else status
    with read_workspace() as ws:
        ws.governance.expire_due()  # requests past their expiry are marked (and audited) first
        page = ws.governance.list_requests(status=wanted, limit=limit, offset=offset)
    if as_json:
        print_json(request_page_json(page))
        return
    table(
        f"requests ({page.total})",
        ["id", "ref", "to", "status", "by", "approvals", "expires"],
        [
            [
                r.id,
                r.ref,
                r.target_stage,
                r.status,
                r.requested_by,
                ", ".join(
                    f"{r.approvals_so_far.get(k, 0)}/{v} {k}"
                    for k, v in r.required_approvals.items()
                ),
                f"{r.expires_at:%Y-%m-%d}",
            ]
            for r in page.items
        ],
    )


@requests_app.command("show")
def requests_show(request_id: str, as_json: JsonOpt = False) -> None:
    """Show a request: snapshot, evaluation, evidence, decisions, what is in the stage now.

    Printed as JSON (with or without --json): the detail has nested records."""
    del as_json  # the detail is always JSON; the flag is accepted like everywhere else
    with read_workspace() as ws:
        print_json(request_json(ws.governance.get_request(request_id)))


def _decide(request_id: str, role: Role, comment: str, approve: bool, as_json: bool) -> None:
    with open_workspace() as ws:
        req = ws.governance.decide(request_id, approve=approve, role=role, comment=comment)
    _print_request(req, as_json)


def _print_request(req: ApprovalRequestPublic, as_json: bool) -> None:
    if as_json:
        print_json(request_json(req))
    else:
        console.print(
            f"request {req.id}: {req.status} ({req.ref} -> {req.target_stage})", highlight=False
        )


RoleOpt = Annotated[Role, typer.Option(help="The role you sign as.")]
CommentOpt = Annotated[str, typer.Option(help="Why (mandatory).")]


@requests_app.command("approve")
def requests_approve(
    request_id: str, role: RoleOpt, comment: CommentOpt, as_json: JsonOpt = False
) -> None:
    """Approve as ROLE; the last required approval promotes the version atomically."""
    _decide(request_id, role, comment, True, as_json)


@requests_app.command("reject")
def requests_reject(
    request_id: str, role: RoleOpt, comment: CommentOpt, as_json: JsonOpt = False
) -> None:
    """Reject as ROLE; the request ends."""
    _decide(request_id, role, comment, False, as_json)


RoleToGive = Annotated[Role, typer.Argument(help="The role to give.")]
RoleToTake = Annotated[Role, typer.Argument(help="The role to take.")]


@users_app.command("grant")
def users_grant(user: str, role: RoleToGive, as_json: JsonOpt = False) -> None:
    """Give USER a ROLE."""
    _change_role(user, role, True, as_json)


@users_app.command("revoke")
def users_revoke(user: str, role: RoleToTake, as_json: JsonOpt = False) -> None:
    """Take a ROLE from USER."""
    _change_role(user, role, False, as_json)


def _change_role(user: str, role: Role, holds: bool, as_json: bool) -> None:
    """Grant (``holds``) or revoke ``role``, then say whether ``user`` holds it now."""
    with open_workspace() as ws:
        change = ws.governance.grant_role if holds else ws.governance.revoke_role
        change(user, role)
    if as_json:
        print_json({"user": user, "role": role, "holds": holds})
    else:
        now = "now holds" if holds else "no longer holds"
        console.print(f"{user} {now} {role}", highlight=False)


@tokens_app.command("create")
def tokens_create(
    user: Annotated[str, typer.Option(help="Who the token acts as.")],
    role: Annotated[Role | None, typer.Option(help="Grant this role too.")] = None,
    description: str = "",
) -> None:
    """Create a bearer token (printed once; only its hash is stored)."""
    with open_workspace() as ws:
        token = ws.governance.create_token(user, role=role, description=description)
    console.print(token, highlight=False, soft_wrap=True)


@tokens_app.command("list")
def tokens_list(as_json: JsonOpt = False) -> None:
    """List tokens (never their secrets)."""
    with read_workspace() as ws:
        tokens = ws.governance.list_tokens()
    if as_json:
        print_json(plain(tokens))
        return
    table(
        "tokens",
        ["id", "user", "description", "created", "revoked"],
        [[t["id"], t["user"], t["description"], t["created_at"], t["revoked"]] for t in tokens],
    )


@tokens_app.command("revoke")
def tokens_revoke(token_id: str, as_json: JsonOpt = False) -> None:
    """Revoke a token by its id (the part after 'lmops_')."""
    with open_workspace() as ws:
        ws.governance.revoke_token(token_id)
    if as_json:
        print_json({"id": token_id, "revoked": True})
    else:
        console.print(f"token {token_id} revoked", highlight=False)
