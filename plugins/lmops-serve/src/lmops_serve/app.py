"""The FastAPI app: ``/v1/generate`` (JSON or server-sent events), ``/health``, ``/version``."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field

from lmops_core.deploy import KeyStore, VerifiedBundle, check_standing, load_bundle
from lmops_core.deploy.approved import approved_guard_pin
from lmops_core.deploy.prompts import ServedPrompt, approved_prompt
from lmops_core.errors import LmopsError, PolicyViolationError, ValidationError
from lmops_serve.generator import load_generator
from lmops_serve.guard_config import GuardSpec, load_guard_spec
from lmops_serve.guard_pipeline import GuardPipeline
from lmops_serve.inference_log import InferenceLog
from lmops_serve.pii import PiiBlockedError
from lmops_serve.service import InferenceService, Outcome

if TYPE_CHECKING:
    from lmops_core.deploy.liveness import LiveStore
    from lmops_core.plugins import PluginHost

MAX_NEW_TOKENS = 512


class GenerateRequest(BaseModel):
    """The body of ``POST /v1/generate``."""

    prompt: str = Field(min_length=1, max_length=20_000)
    max_new_tokens: int = Field(default=32, ge=1, le=MAX_NEW_TOKENS)
    temperature: float | None = Field(default=None, ge=0.0, le=5.0)


def _sse(event: str, data: Mapping[str, Any]) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def _events(service: InferenceService, out: Outcome, pieces: Iterator[str]) -> Iterator[str]:
    try:
        for piece in pieces:
            yield _sse("token", {"text": piece})
    except PiiBlockedError as exc:
        yield _sse(
            "error", {"code": exc.code, "message": exc.message, "request_id": out.request_id}
        )
        return
    yield _sse(
        "done",
        {
            "request_id": out.request_id,
            "refused": out.refused,
            "refused_category": out.category or None,
            "metrics": out.metrics(),
            "model": service.model,
        },
    )


def _default_keys() -> dict[str, Ed25519PublicKey]:
    from lmops_core.settings import get_settings

    return KeyStore.for_home(get_settings().home).public_keys()


def open_service(
    bundle_path: Path | str,
    *,
    public_keys: Mapping[str, Ed25519PublicKey] | None,
    decryption_key: bytes | None,
    guard_mode: str,
    refuse_categories: Iterable[str] | None,
    log_path: Path | str | None,
    guard_options: Mapping[str, Any] | None,
    store: LiveStore | None = None,
    plugins: PluginHost | None = None,
    prompt: str | None = None,
    guard_config: Path | str | GuardSpec | None = None,
) -> InferenceService:
    """Verify the bundle and its standing, load its model, and build the service around it.

    ``guard_config`` (a :mod:`lmops_serve.guard_config` file or spec) replaces
    ``guard_mode``, ``refuse_categories`` and ``guard_options``, which must then be left
    at their defaults; without it they make the ``inline`` configuration. A bundle that
    pins a guard configuration (``create_bundle(..., guard=...)``) is refused behind any
    other (``PolicyViolationError`` naming both digests).

    With ``prompt`` (a prompt version's reference) every request is sent through that
    prompt, which ``store`` must find approved for the bundle's stage (see
    :func:`lmops_core.deploy.prompts.approved_prompt`); without a store it is refused.

    The model is opened by the runtime registered for the bundle's model kind
    and the guard is the ``pii`` guard, both found through ``plugins`` (by
    default the plugins installed here, under the current settings' allow and
    deny lists).
    """
    if plugins is None:
        from lmops_core.plugins import default_host

        plugins = default_host()
    # Bad settings fail before any loading.
    spec = _guard_spec(guard_config, guard_mode, refuse_categories, guard_options)
    pipeline = GuardPipeline.build(spec, guards=plugins)
    work = Path(tempfile.mkdtemp(prefix="lmops-serve-"))
    try:
        bundle = load_bundle(
            bundle_path,
            public_keys=public_keys or _default_keys(),
            decryption_key=decryption_key,
            workdir=work / "bundle",
            store=store,
        )
        _check_guard_pin(bundle, spec)
        _check_guard_approval(bundle, store)
        # The model is read into memory here, so its plaintext files need not outlive this.
        kind = bundle.manifest.get("model", {}).get("kind")
        if not isinstance(kind, str):
            raise ValidationError(
                f"bundle {bundle_path}: its manifest names no model kind", field="model.kind"
            )
        served = None if prompt is None else _served_prompt(prompt, bundle, store)
        generator, engine = load_generator(bundle.folder, kind, plugins)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    log = InferenceLog(Path(log_path)) if log_path is not None else None
    return InferenceService(
        bundle,
        generator,
        engine,
        pipeline=pipeline,
        log=log,
        prompt=served,
        guard_ref=(bundle.guard or {}).get("ref", ""),
    )


def _check_guard_pin(bundle: VerifiedBundle, spec: GuardSpec) -> None:
    """A bundle that pins a guard configuration is served behind that one only."""
    pinned = bundle.guard
    if pinned is not None and pinned["digest"] != spec.digest:
        raise PolicyViolationError(
            f"bundle {bundle.digest} pins guard {pinned['name']} ({pinned['digest']}); "
            f"this service was given {spec.name} ({spec.digest})",
            pinned=pinned,
            given=spec.identity(),
        )


def _check_guard_approval(bundle: VerifiedBundle, store: LiveStore | None) -> None:
    """The guard version a bundle pins must still be approved for its stage, asked of the
    store as the bundle's creation asked it (revoked since: ``PolicyViolationError``).

    Without a store the pin stands as signed, like the model: the bundle's validity
    period (checked with its standing) decides.
    """
    pinned = bundle.guard or {}
    ref = pinned.get("ref")
    if not ref or store is None:
        return
    with store.db.read() as s:
        live = approved_guard_pin(s, ref, stage=bundle.stage)
    if live["digest"] != pinned["digest"]:
        raise PolicyViolationError(
            f"bundle {bundle.digest} pins {ref} with digest {pinned['digest']}; "
            f"the store holds {live['digest']} for it",
            ref=ref,
        )


def _guard_spec(
    config: Path | str | GuardSpec | None,
    mode: str,
    refuse_categories: Iterable[str] | None,
    options: Mapping[str, Any] | None,
) -> GuardSpec:
    """The guard configuration a service runs: the file (or spec) given, else its options."""
    if config is None:
        return GuardSpec.inline(mode, refuse_categories, options)
    if mode != "redact" or refuse_categories is not None or options is not None:
        raise ValidationError(
            "give either a guard configuration or guard_mode/refuse_categories/guard_options, "
            "not both",
            field="guard_config",
        )
    return config if isinstance(config, GuardSpec) else load_guard_spec(config)


def _served_prompt(ref: str, bundle: VerifiedBundle, store: LiveStore | None) -> ServedPrompt:
    """The prompt version ``ref`` if the store finds it approved for the bundle's stage."""
    if store is None:
        raise PolicyViolationError(
            f"prompt version {ref} cannot be checked for {bundle.stage} without the store "
            "that approved it (no store answered, or --offline)",
            ref=ref,
        )
    return approved_prompt(store.db, ref, stage=bundle.stage, model_digest=bundle.model_digest)


def create_app(
    bundle_path: Path | str,
    *,
    guard_mode: str = "redact",
    refuse_categories: Iterable[str] | None = None,
    log_path: Path | str | None = None,
    public_keys: Mapping[str, Ed25519PublicKey] | None = None,
    decryption_key: bytes | None = None,
    guard_options: Mapping[str, Any] | None = None,
    store: LiveStore | None = None,
    plugins: PluginHost | None = None,
    prompt: str | None = None,
    guard_config: Path | str | GuardSpec | None = None,
) -> FastAPI:
    """A FastAPI app serving a verified bundle (through a prompt version, with ``prompt``).

    ``guard_mode``: ``redact`` (personal data is replaced before the model sees
    the prompt and before the client sees the reply), ``block`` (requests or
    replies with personal data get 422) or ``off``. ``refuse_categories``:
    request categories answered with a fixed refusal (default: all of
    :data:`lmops_serve.request_filter.CATEGORIES`). ``log_path``: the JSONL
    inference log (always redacted). ``guard_options``: options of the ``pii``
    guard (lmops-presidio's: ``entities``, ``patterns_only``, ``config``).
    ``plugins``: where the model runtime and the guard are found (default:
    the plugins installed here). ``public_keys`` default to the keys under
    ``LMOPS_HOME``. ``store``: the store (its database) asked whether the bundle's
    approval still stands (a revoked version is refused); without one the
    bundle's signed validity period decides. The standing is checked when the
    app is built and again before every generation: a version revoked while
    it is served gets 403 from then on (the caller keeps ``store`` open). ``prompt``:
    a prompt version every request is put through; it must be approved for the bundle's
    stage and target the bundle's model, at start and before every generation.
    ``guard_config``: a guard configuration file (see :mod:`lmops_serve.guard_config`)
    instead of ``guard_mode``, ``refuse_categories`` and ``guard_options``; its name and
    digest are reported by ``/version`` and written in every inference log line. A guard
    version the bundle pins must still be approved for its stage when ``store`` is given, at
    start and before every generation (revoked: 403), as a served prompt version must.
    """
    service = open_service(
        bundle_path,
        public_keys=public_keys,
        decryption_key=decryption_key,
        guard_mode=guard_mode,
        refuse_categories=refuse_categories,
        log_path=log_path,
        guard_options=guard_options,
        store=store,
        plugins=plugins,
        prompt=prompt,
        guard_config=guard_config,
    )
    app = FastAPI(title="lmops guarded inference", version="1", docs_url=None, redoc_url=None)
    app.state.service = service

    @app.exception_handler(LmopsError)
    async def lmops_error(_: Request, exc: LmopsError) -> JSONResponse:
        status = (
            422
            if isinstance(exc, ValidationError)
            else 403
            if isinstance(exc, PolicyViolationError)
            else 500
        )
        return JSONResponse(status_code=status, content={"error": exc.to_dict()})

    def still_stands() -> None:
        """Revocation is live: ask again before each generation (validity alone offline)."""
        check_standing(service.bundle.manifest, store=store)
        _check_guard_approval(service.bundle, store)
        if service.prompt is not None:
            _served_prompt(service.prompt.ref, service.bundle, store)

    @app.get("/health")
    def health() -> dict[str, Any]:
        """Liveness: the bundle verified and the model is loaded."""
        return {
            "status": "ok",
            "model": service.model["ref"],
            "engine": service.engine,
            "guard_mode": service.guard.mode,
            "guard": service.guard_identity,
        }

    @app.get("/version")
    def version() -> dict[str, Any]:
        """What is served: bundle and model digests, signing key, the approval record."""
        b = service.bundle
        return {
            "model_ref": b.model_ref,
            "model_digest": b.model_digest,
            "bundle_digest": b.digest,
            "key_id": b.key_id,
            "stage": b.stage,
            "approval_request_id": b.approval["request_id"],
            "approval": b.approval,
            "policy_digests": b.manifest.get("policy_digests", {}),
            "guard": service.guard_identity,
            "prompt": None
            if service.prompt is None
            else {
                "ref": service.prompt.ref,
                "digest": service.prompt.digest,
                "approval_request_id": service.prompt.request_id,
            },
        }

    def _stream(body: GenerateRequest) -> StreamingResponse:
        out, pieces = service.stream(body.prompt, body.max_new_tokens, body.temperature)
        return StreamingResponse(
            _events(service, out, pieces),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache"},
        )

    @app.post("/v1/generate", response_model=None)
    def generate(body: GenerateRequest, stream: bool = False) -> dict[str, Any] | StreamingResponse:
        """Generate a reply (JSON), or stream it with ``?stream=true`` (server-sent events)."""
        still_stands()
        if stream:
            return _stream(body)
        return service.generate(body.prompt, body.max_new_tokens, body.temperature).public(
            service.model
        )

    @app.post("/v1/generate/stream")
    def generate_stream(body: GenerateRequest) -> StreamingResponse:
        """Server-sent events: ``token`` per released piece, then ``done`` with metrics."""
        still_stands()
        return _stream(body)

    return app
