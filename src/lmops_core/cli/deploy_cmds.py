"""``lmops keys ...`` and ``lmops bundle create|verify``: signed deployment bundles."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated, Any

import typer

from lmops_core.cli.choices import GovernedStage
from lmops_core.cli.common import (
    BundleArg,
    JsonOpt,
    KeyFileOpt,
    OfflineOpt,
    TrustedKeysOpt,
    console,
    open_workspace,
    print_json,
    read_workspace,
    settings,
    table,
)
from lmops_core.cli.json_shapes import key_json, plain

keys_app = typer.Typer(
    help="Ed25519 keys: the server's bundle key (create, export-public, "
    "rotate --server) and personal keys that sign approvals (generate, "
    "register, rotate, revoke).",
    no_args_is_help=True,
)
bundle_app = typer.Typer(
    help="Package approved model versions as signed bundles; verify them.", no_args_is_help=True
)


def _store() -> Any:
    from lmops_core.deploy import KeyStore

    return KeyStore.for_home(settings().home)


@keys_app.command("create")
def keys_create(as_json: JsonOpt = False) -> None:
    """Create the first signing key (the private key is never printed)."""
    info = _store().create()
    if as_json:
        print_json(plain(dataclasses.asdict(info)))
        return
    console.print(f"created signing key [bold]{info.key_id}[/] (public key {info.public_path})")


@keys_app.command("rotate")
def keys_rotate(
    public_key: Annotated[
        Path | None,
        typer.Argument(
            help="New personal public key file (from `lmops keys generate`).",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
    user: Annotated[
        str | None,
        typer.Option(
            help="Whose key (admins only; default: your own, acting with your current key)."
        ),
    ] = None,
    server: Annotated[
        bool,
        typer.Option(
            "--server", help="Rotate the server's bundle key instead (old public key kept)."
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Replace a personal key (audited), or with --server the server's bundle signing key."""
    if server:
        info = _store().rotate()
        if as_json:
            print_json(plain(dataclasses.asdict(info)))
            return
        console.print(f"active signing key is now [bold]{info.key_id}[/]")
        return
    if public_key is None:
        raise typer.BadParameter(
            "give the NEW public key file, or --server", param_hint="PUBLIC_KEY"
        )
    with open_workspace() as ws:
        key = ws.signing_keys.rotate(public_key, user=user)
    if as_json:
        print_json(key_json(key))
        return
    console.print(
        f"{key.user}'s signing key is now [bold]{key.fingerprint}[/] (the previous one is revoked)"
    )


@keys_app.command("generate")
def keys_generate(
    out: Annotated[
        Path | None,
        typer.Option(
            help="Private key file to create (mode 0600); the public key goes to OUT.pub. "
            "Default: LMOPS_HOME/keys/personal/<you>.key"
        ),
    ] = None,
) -> None:
    """Create your personal Ed25519 key pair locally; give the .pub file to an admin."""
    from lmops_core.governance.identity import fingerprint_of, public_pem, write_private_key

    path = out or settings().home / "keys" / "personal" / f"{settings().actor}.key"
    key = write_private_key(path)
    pem = public_pem(key.public_key())
    pub = path.with_name(path.name + ".pub")
    pub.write_text(pem, encoding="ascii")
    console.print(
        f"private key {path} (keep it; set LMOPS_SIGNING_KEY={path} to sign)\n"
        f"public key {pub}, fingerprint [bold]{fingerprint_of(key.public_key())}[/]",
        highlight=False,
        soft_wrap=True,
    )
    typer.echo(pem, nl=False)


@keys_app.command("register")
def keys_register(
    user: Annotated[str, typer.Argument(help="Whose key it is.")],
    public_key: Annotated[
        Path, typer.Argument(help="Their public key file.", exists=True, dir_okay=False)
    ],
    as_json: JsonOpt = False,
) -> None:
    """Register USER's public key (an admin, acting with a credential; audited, signed)."""
    with open_workspace() as ws:
        key = ws.signing_keys.register(user, public_key)
    if as_json:
        print_json(key_json(key))
        return
    console.print(f"registered key [bold]{key.fingerprint}[/] for {key.user}")


@keys_app.command("revoke")
def keys_revoke(
    user: Annotated[str, typer.Argument(help="Whose active key to revoke.")],
    as_json: JsonOpt = False,
) -> None:
    """Revoke USER's active personal key (an admin or the owner); it signs nothing more."""
    with open_workspace() as ws:
        key = ws.signing_keys.revoke(user)
    if as_json:
        print_json(key_json(key))
        return
    console.print(f"revoked key {key.fingerprint} of {key.user}")


@keys_app.command("list")
def keys_list(as_json: JsonOpt = False) -> None:
    """List the server's bundle keys and the registered personal keys."""
    bundle_keys = _store().list()
    with read_workspace() as ws:
        personal = ws.signing_keys.list()
    if as_json:
        print_json(
            plain(
                {
                    "bundle_keys": [
                        {
                            "key_id": k.key_id,
                            "active": k.active,
                            "has_private": k.has_private,
                            "public_path": k.public_path,
                        }
                        for k in bundle_keys
                    ],
                    "personal_keys": [key_json(k) for k in personal],
                }
            )
        )
        return
    table(
        "bundle signing keys",
        ["key id", "active", "private key", "public key file"],
        [
            [
                k.key_id,
                "yes" if k.active else "",
                "present" if k.has_private else "retired",
                k.public_path,
            ]
            for k in bundle_keys
        ],
    )
    table(
        "personal signing keys",
        ["fingerprint", "user", "registered by", "registered", "revoked"],
        [[k.fingerprint, k.user, k.created_by, k.created_at, k.revoked_at or ""] for k in personal],
    )


@keys_app.command("export-public")
def keys_export_public(
    key_id: Annotated[str | None, typer.Argument(help="Key id (default: the active key).")] = None,
    out: Annotated[Path | None, typer.Option(help="Write to this file instead of stdout.")] = None,
) -> None:
    """Print (or write) a public key as PEM, for verifiers elsewhere."""
    pem = _store().export_public(key_id)
    if out is None:
        typer.echo(pem.decode("ascii"), nl=False)
    else:
        out.write_bytes(pem)
        console.print(f"wrote {out}")


@bundle_app.command("create")
def bundle_create(
    ref: Annotated[str, typer.Argument(help="MODEL@N or model:NAME@N")],
    stage: Annotated[GovernedStage, typer.Option(help="The stage the version was approved into.")],
    out: Annotated[Path, typer.Option(help="New bundle folder to write.")],
    tar: Annotated[bool, typer.Option("--tar", help="Also write OUT.tar.")] = False,
    encrypt: Annotated[bool, typer.Option("--encrypt", help="Encrypt members (AES-GCM).")] = False,
    key_file: KeyFileOpt = None,
    valid_for: Annotated[
        str,
        typer.Option(
            help="How long the bundle may be accepted without a check against this store "
            "(e.g. 30d, 12h); revocation is always checked when the store answers."
        ),
    ] = "30d",
    guard: Annotated[
        str | None,
        typer.Option(
            help="Pin the guard version the model must be served behind (guard:NAME@N); "
            "it must be approved for STAGE."
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Package an approved version for STAGE; refused with the reason otherwise."""
    from lmops_core.deploy import create_bundle, load_encryption_key
    from lmops_core.errors import ValidationError
    from lmops_core.policy.model import parse_duration

    try:
        validity = parse_duration(valid_for)
    except ValueError as exc:
        raise ValidationError(str(exc), field="valid_for") from exc

    key = load_encryption_key(key_file) if encrypt else None
    if encrypt and key is None:
        raise ValidationError("--encrypt needs --key-file or $LMOPS_BUNDLE_KEY", field="encrypt")
    full = ref if ":" in ref.split("@")[0] else f"model:{ref}"
    with read_workspace() as ws:
        guard_ref = None if guard is None or ":" in guard.split("@")[0] else f"guard:{guard}"
        info = create_bundle(
            ws,
            full,
            out,
            stage=stage,
            encryption_key=key,
            archive=tar,
            valid_for=validity,
            guard=guard_ref or guard,
        )
    if as_json:
        print_json(
            plain(
                {
                    "path": info.path,
                    "digest": info.digest,
                    "ref": info.ref,
                    "stage": info.stage,
                    "key_id": info.key_id,
                    "request_id": info.request_id,
                    "archive": info.archive,
                }
            )
        )
        return
    console.print(
        f"bundle {info.path} ({info.digest}) for {info.ref} -> {info.stage}, "
        f"signed by {info.key_id}, approval {info.request_id}"
        + (f", archive {info.archive}" if info.archive else "")
    )


@bundle_app.command("verify")
def bundle_verify(
    path: BundleArg,
    public_key: TrustedKeysOpt = None,
    key_file: KeyFileOpt = None,
    as_json: JsonOpt = False,
    offline: OfflineOpt = False,
) -> None:
    """Verify signature, every digest, every member and that the approval still stands.

    The store (LMOPS_HOME / LMOPS_DATABASE_URL) is asked whether the version
    was revoked since; when it cannot answer, the bundle's signed valid_until
    decides. Refused with the reason: exit 4 when the approval no longer stands (revoked,
    expired), 6 when a signature or digest does not verify, 2 when content is refused
    (unsafe files, paths outside the bundle).
    """
    import shutil
    import tempfile

    from lmops_core.deploy import (
        attestations,
        load_bundle,
        load_encryption_key,
        load_public_key_file,
        open_reachable_store,
    )

    keys = (
        dict(load_public_key_file(p) for p in public_key) if public_key else _store().public_keys()
    )
    work = Path(tempfile.mkdtemp(prefix="lmops-verify-"))
    store = None if offline else open_reachable_store(settings())
    try:
        bundle = load_bundle(
            path,
            public_keys=keys,
            decryption_key=load_encryption_key(key_file),
            workdir=work / "out",
            store=store,
        )
        standing = bundle.standing
        statements = attestations.verify(bundle.manifest, keys)
        summary = {
            "ok": True,
            "digest": bundle.digest,
            "key_id": bundle.key_id,
            "ref": bundle.model_ref,
            "stage": bundle.stage,
            "request_id": bundle.approval["request_id"],
            "members": len(bundle.manifest["members"]),
            "checked": standing.checked if standing else None,
            "valid_until": bundle.manifest.get("valid_until"),
            "standing": standing.detail if standing else None,
            "statements": [a.to_json() for a in statements],
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if store is not None:
            store.close()
    if as_json:
        print_json(summary)
    else:
        console.print(
            f"[green]verified[/] {path}: {summary['ref']} for {summary['stage']}, "
            f"{summary['members']} members, key {summary['key_id']}, "
            f"approval {summary['request_id']}; {summary['standing']}"
        )
        for a in statements:
            console.print(
                f"  {a.decision} by {a.actor} as {a.role} on {a.version_digest} "
                f"at {a.time} ({a.auth_method}, signed by {a.signer} "
                f"{a.key_fingerprint})",
                highlight=False,
                soft_wrap=True,
            )


def register(app: typer.Typer) -> None:
    """Add ``keys`` and ``bundle`` to the root CLI app."""
    app.add_typer(keys_app, name="keys")
    app.add_typer(bundle_app, name="bundle")
