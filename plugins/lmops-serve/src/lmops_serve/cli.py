"""``lmops serve-model BUNDLE``: verify a bundle and serve it over HTTP with uvicorn."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lmops_core.cli.common import BundleArg, KeyFileOpt, OfflineOpt, TrustedKeysOpt


def serve_model(
    bundle: BundleArg,
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8080,
    guard_mode: Annotated[str, typer.Option(help="redact, block or off.")] = "redact",
    refuse: Annotated[
        list[str] | None, typer.Option(help="Request category to refuse (repeatable; default all).")
    ] = None,
    log_path: Annotated[Path | None, typer.Option(help="JSONL inference log.")] = None,
    guard_config: Annotated[
        Path | None,
        typer.Option(help="Guard configuration file (instead of --guard-mode and --refuse)."),
    ] = None,
    prompt: Annotated[
        str | None,
        typer.Option(help="Prompt version every request is sent through (approved for the stage)."),
    ] = None,
    public_key: TrustedKeysOpt = None,
    key_file: KeyFileOpt = None,
    offline: OfflineOpt = False,
) -> None:
    """Verify BUNDLE (signature, every digest, approval not revoked), load its model, serve it.

    The store (LMOPS_HOME / LMOPS_DATABASE_URL) is asked whether the version was
    revoked since the bundle was made, at start and before every generation
    (a revoked version gets 403); when it cannot answer, the bundle's signed
    valid_until decides. With --prompt, requests go through that prompt version, which
    the store must find approved for the bundle's stage and written for its model.
    The guard configuration's name and digest (--guard-config, else the inline one made of
    --guard-mode and --refuse) are shown at /version and written in every log line, with
    the guard version (guard:NAME@N) when the bundle pins a registered one; a bundle that
    pins a guard is served behind a configuration with that digest only, and while that guard
    version is still approved for the bundle's stage (asked at start and before every
    generation, when the store answers).
    """
    import uvicorn

    from lmops_core.deploy import load_encryption_key, load_public_key_file, open_reachable_store
    from lmops_core.settings import get_settings
    from lmops_serve.app import create_app

    keys = dict(load_public_key_file(p) for p in public_key) if public_key else None
    store = None if offline else open_reachable_store(get_settings())
    try:
        app = create_app(
            bundle,
            guard_mode=guard_mode,
            refuse_categories=refuse or None,
            log_path=log_path,
            public_keys=keys,
            decryption_key=load_encryption_key(key_file),
            store=store,
            prompt=prompt,
            guard_config=guard_config,
        )
        uvicorn.run(app, host=host, port=port, log_level="info")
    finally:  # the store stays open while serving: every generation asks it again
        if store is not None:
            store.close()
