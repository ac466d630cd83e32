"""Keep the ML libraries' own output off the terminal while a stage runs.

Plugins call transformers, datasets, evaluate and lm-eval, which draw their own
tqdm bars, log advisories, raise warnings a user cannot act on, and (lm-eval)
run ``git describe`` in the working directory, whose ``fatal: not a git
repository`` goes straight to file descriptor 2. While :func:`library_output_to`
is active all of that goes to a log file instead: Python warnings and log
records, anything written to ``sys.stderr`` and, in a real process, anything a
child process or native code writes to descriptor 2. lmops' own progress
display and messages (:data:`lmops_core.cli.common.err_console`) keep the
terminal.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO

from lmops_core.cli.common import err_console

#: Environment switches the libraries read (most when they are first imported).
QUIET_ENV = {
    "TQDM_DISABLE": "1",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",
    "TRANSFORMERS_VERBOSITY": "error",
    "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1",
    "TOKENIZERS_PARALLELISM": "false",
    "DATASETS_VERBOSITY": "error",
}


@contextmanager
def quiet_environment() -> Iterator[None]:
    """Set :data:`QUIET_ENV` (keeping values the user chose) and quiet libraries already loaded.

    The variables are restored on exit, so an in-process caller (a test) keeps its own.
    """
    saved = {name: os.environ.get(name) for name in QUIET_ENV}
    for name, value in QUIET_ENV.items():
        os.environ.setdefault(name, value)
    for module, call in (
        ("datasets", "disable_progress_bars"),
        ("transformers.utils.logging", "disable_progress_bar"),
        ("evaluate", "disable_progress_bar"),
        ("huggingface_hub.utils", "disable_progress_bars"),
    ):
        loaded = sys.modules.get(module)
        fn = getattr(loaded, call, None) if loaded is not None else None
        if callable(fn):
            with suppress(Exception):  # a library's own switch failing must not stop a run
                fn()
    try:
        yield
    finally:
        for name, before in saved.items():
            if before is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = before


def _real_stderr_fd() -> int | None:
    """Descriptor 2 when this process really writes to it (not under a test runner)."""
    try:
        return 2 if sys.stderr.fileno() == 2 else None
    except (AttributeError, OSError, ValueError):
        return None


@contextmanager
def library_output_to(log_path: Path) -> Iterator[Path]:
    """Send the libraries' output (see the module docstring) to ``log_path`` while active.

    Use it inside :func:`quiet_environment`, entered before the libraries are imported.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log: IO[str] = open(log_path, "a", encoding="utf-8", buffering=1)  # noqa: SIM115
    handler = logging.StreamHandler(log)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    saved_stderr = sys.stderr
    fd = _real_stderr_fd()
    saved_fd: int | None = None
    terminal: IO[str] | None = None
    root.addHandler(handler)
    logging.captureWarnings(True)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("default")  # each warning once, into the log
            if fd is not None:
                sys.stderr.flush()
                saved_fd = os.dup(fd)
                terminal = os.fdopen(os.dup(saved_fd), "w", buffering=1, encoding="utf-8")
                os.dup2(log.fileno(), fd)
            err_console.file = terminal if terminal is not None else saved_stderr
            sys.stderr = log
            yield log_path
    finally:
        sys.stderr = saved_stderr
        err_console.file = None  # type: ignore[assignment]  # back to the current sys.stderr
        if saved_fd is not None and fd is not None:
            with suppress(OSError):
                log.flush()
            os.dup2(saved_fd, fd)
            os.close(saved_fd)
        if terminal is not None:
            terminal.close()
        logging.captureWarnings(False)
        root.removeHandler(handler)
        log.close()
