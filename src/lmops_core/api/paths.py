"""Server paths out of API answers: readers see names relative to known roots.

Policy digests are keyed by the policy file's path, error messages name files,
evidence and audit details may hold folders of the server. None of that is the
caller's business: every answer and error passes through :func:`scrub`, which
rewrites paths under the server's folders to relative names
(``/srv/lmops/policies/prod.yaml`` becomes ``policies/prod.yaml``; the state
folder becomes ``$LMOPS_HOME``, the artifact root ``$ARTIFACTS``, the working
directory ``.``, the service account's home ``~``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response

from lmops_core.workspace import Workspace


class PathScrubber:
    """Rewrites the absolute paths of one workspace's folders in any JSON-like value."""

    def __init__(self, roots: Mapping[str, str]) -> None:
        usable = {
            r.rstrip(os.sep): label for r, label in roots.items() if len(r.rstrip(os.sep)) > 1
        }
        self._labels = usable
        ordered = sorted(usable, key=len, reverse=True)  # nested roots first
        self._pattern = (
            re.compile("(" + "|".join(re.escape(r) for r in ordered) + r")(?![^/\s\"'<>,;:)\]}])")
            if ordered
            else None
        )

    @classmethod
    def for_workspace(cls, ws: Workspace) -> PathScrubber:
        """The scrubber of ``ws``: its policies, state, artifact and working folders."""
        roots: dict[str, str] = {}

        def add(path: Path | None, label: str) -> None:
            if path is None:
                return
            for form in {str(path), str(path.absolute()), str(path.resolve())}:
                roots.setdefault(form, label)

        add(ws.governance.policies_dir, "policies")
        root = getattr(ws.artifacts.backend, "root", None)
        add(Path(root) if root is not None else None, "$ARTIFACTS")
        add(ws.settings.home, "$LMOPS_HOME")
        add(Path.cwd(), ".")
        add(Path.home(), "~")
        return cls(roots)

    def text(self, value: str) -> str:
        """``value`` with every known root replaced by its label."""
        if self._pattern is None or "/" not in value:
            return value
        return self._pattern.sub(lambda m: self._labels[m.group(1)], value)

    def __call__(self, value: Any) -> Any:
        """A copy of ``value`` (models become JSON data) with paths rewritten."""
        if isinstance(value, BaseModel):
            value = value.model_dump(mode="json")
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Mapping):
            return {self(k) if isinstance(k, str) else k: self(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self(v) for v in value]
        return value


def scrubber_of(request: Request) -> PathScrubber:
    """The app's scrubber, built on first use from the workspace it serves."""
    scrubber: PathScrubber | None = getattr(request.app.state, "path_scrubber", None)
    if scrubber is None:
        try:
            scrubber = PathScrubber.for_workspace(request.app.state.workspace.get())
        except Exception:  # noqa: BLE001 - a store that cannot open still gets a clean error
            return PathScrubber({str(Path.cwd()): ".", str(Path.home()): "~"})
        request.app.state.path_scrubber = scrubber
    return scrubber


def scrub(request: Request, value: Any) -> Any:
    """``value`` as a reader may see it: no absolute server paths."""
    return scrubber_of(request)(value)


M = TypeVar("M", bound=BaseModel)


def scrub_model(request: Request, model: M) -> M:
    """The same model with no absolute server paths in any of its fields."""
    return type(model).model_validate(scrub(request, model))


def scrubbed_json(request: Request, model: BaseModel) -> Response:
    """``model``'s JSON with no absolute server paths, as the response.

    For routes every reviewer calls (decisions): the model was validated as it was
    built, so it is serialised once and its paths rewritten in the JSON text, as
    :func:`~lmops_core.api.security.cached_json` does, instead of being dumped,
    validated again by :func:`scrub_model` and serialised by the route.
    """
    text = scrubber_of(request).text(model.model_dump_json())
    return Response(text.encode(), media_type="application/json")


__all__ = ["PathScrubber", "scrub", "scrub_model", "scrubbed_json", "scrubber_of"]
