"""Secrets kept out of everything lmops stores or shows: :func:`redact`.

One function decides what a secret looks like, for every place a value is
written (run parameters and errors, evidence, audit events) and every place
one is shown (SDK reads, reports, ``--json`` output, error messages). It masks:

* values under a key that names a secret (``password``, ``db_password``,
  ``apiKey``, ``X-Api-Key``, ``Authorization``, ``hf_token``, ``client_secret``,
  ``credentials``, ``salt``...), recursively through dicts, lists and tuples;
  tokenizer names such as ``eos_token`` or ``max_new_tokens`` are not secrets;
* secrets by their shape wherever they occur inside any string: provider keys
  (``sk-...``, ``ghp_...``, ``github_pat_...``, ``AKIA...``, ``hf_...``,
  ``xox?-...``, ``AIza...``, ``glpat-...``), our own API tokens
  (``lmops_<id>_<secret>`` keeps its id), JSON web tokens, ``Bearer``/``Basic``
  credentials, PEM private keys, ``password=...`` and ``?token=...&sig=...``
  pairs, incoming-webhook URLs whose path is the credential (Slack, Discord,
  Teams), and the password of a URL (``scheme://user:pass@host`` becomes
  ``scheme://user:***@host``).

Empty values and ``None`` stay as they are (nothing to hide, and they say a
setting was left unset); booleans are kept, since they say only whether a
feature is on.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

#: What every masked value becomes.
MASK = "***"

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_SPLIT = re.compile(r"[^a-z0-9]+")

#: A key naming one of these in any of its parts is a secret (``db_password_file`` too).
_ANY_PART = frozenset(
    {
        "password",
        "passwd",
        "passphrase",
        "pwd",
        "credential",
        "credentials",
        "authorization",
        "apikey",
        "privatekey",
        "bearer",
    }
)
#: A key ending with one of these parts is a secret (``client_secret``, ``hash_salt``);
#: not in the middle, where it names a measure (``secret_leak_rate``).
_LAST_PART = frozenset({"secret", "secrets", "salt", "cookie", "cookies", "auth", "pat", "dsn"})
#: Two consecutive parts naming a key (``openai_api_key``, ``aws_secret_access_key``).
_PAIRS = frozenset(
    {
        ("api", "key"),
        ("access", "key"),
        ("private", "key"),
        ("secret", "key"),
        ("signing", "key"),
        ("encryption", "key"),
        ("master", "key"),
        ("client", "key"),
        ("license", "key"),
        ("account", "key"),
        ("subscription", "key"),
        ("service", "key"),
        ("session", "key"),
        ("api", "token"),
    }
)
#: ``<prefix>_token`` keys that name a tokenizer's token or a count, not a credential.
_TOKENIZER_PREFIXES = frozenset(
    {
        "pad",
        "eos",
        "bos",
        "unk",
        "sep",
        "cls",
        "mask",
        "special",
        "start",
        "end",
        "stop",
        "new",
        "image",
        "audio",
        "video",
        "decoder",
        "chat",
        "additional",
        "sentinel",
        "max",
        "min",
        "num",
        "n",
        "first",
        "last",
        "next",
        "prev",
        "input",
        "output",
        "eot",
        "im",
        "system",
        "user",
        "assistant",
        "tool",
        "thinking",
        "think",
        "default",
        "fill",
        "middle",
        "prefix",
        "suffix",
        "boundary",
    }
)

_PRIVATE_KEY = re.compile(
    r"-----BEGIN ((?:[A-Z0-9]+ )*)PRIVATE KEY( BLOCK)?-----.*?(?:-----END [A-Z0-9 ]*-----|\Z)", re.S
)
_URL_PASSWORD = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]{0,30}://[^\s:/@?#]*):([^\s@/?#]+)@")
_URL_TOKEN_USER = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]{0,30}://)([^\s:/@?#]{16,})@")
_AUTH_SCHEME = re.compile(r"(?i)\b(bearer|basic|digest)(\s+)([A-Za-z0-9\-._~+/]{8,}=*)")
_PAIR = re.compile(
    r"(?i)(?<![A-Za-z0-9])((?:[A-Za-z0-9]+[_\-.])*"
    r"(?:password|passwd|passphrase|pwd|secret|api[_\-]?key|access[_\-]?key|secret[_\-]?key|"
    r"private[_\-]?key|client[_\-]?secret|token|access[_\-]?token|refresh[_\-]?token|"
    r"authorization|credentials?|cookie|salt|auth|dsn|bearer|sig|signature))"
    r"(\\?[\"']?\s*[:=]\s*\\?[\"']?)"
    # A JSON object or array opening after the key is structure, not the value: the pairs
    # inside are judged on their own (a signed statement's ``"auth":{...}`` keeps its brace).
    r"(?!\*\*\*)(?!\{\s*[\"}])(?!\[\s*[\"{\[\]])"
    r"((?:(?:bearer|basic|digest|token)\s+)?[^\s\"'\\&,;}\])]+)"
)
_SHAPES = re.compile(
    r"\b(?:"
    r"(?P<keep>sk-|sk_live_|sk_test_|rk_live_|rk_test_|github_pat_|glpat-|xox[abposr]-)"
    r"[A-Za-z0-9_\-]{16,}"
    r"|(?P<alnum>gh[pousr]_|hf_)[A-Za-z0-9]{20,}"
    r"|(?P<lmops>lmops_[0-9a-f]{8,32}_)[A-Za-z0-9_\-]{16,}"
    r"|(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[0-9A-Z]{16}"
    r"|AIza[0-9A-Za-z_\-]{35}"
    r"|eyJ[A-Za-z0-9_\-]{5,}\.eyJ[A-Za-z0-9_\-]{5,}\.[A-Za-z0-9_\-]{5,}"
    r")"
)
# Webhook URLs whose path is the credential (Slack, Discord, Teams-style incoming hooks).
_HOOK_PATH = re.compile(
    r"(?i)\b((?:https?://)?(?:hooks\.slack\.com/(?:services|workflows|triggers)"
    r"|(?:[a-z0-9-]+\.)?discord(?:app)?\.com/api/webhooks"
    r"|[a-z0-9-]+\.webhook\.office\.com/webhookb2))/[^\s\"'<>]+"
)
#: What every match of ``_SHAPES`` starts with (its alternatives' literal prefixes).
_SHAPE_PREFIXES = (
    "sk-",
    "sk_live_",
    "sk_test_",
    "rk_live_",
    "rk_test_",
    "github_pat_",
    "glpat-",
    "xox",
    "gh",
    "hf_",
    "lmops_",
    "AKIA",
    "ASIA",
    "AGPA",
    "AIDA",
    "AROA",
    "ANPA",
    "ANVA",
    "AIPA",
    "AIza",
    "eyJ",
)
#: The words ``_AUTH_SCHEME`` starts with.
_SCHEME_WORDS = ("bearer", "basic", "digest")
#: Every match of ``_HOOK_PATH`` holds one of these words, matched with the same
#: (case-insensitive) rules: a plain lower-cased test would miss what ``(?i)`` folds
#: outside ASCII (see :func:`_may_hook`).
_HOOK_HOSTS = re.compile(r"(?i)slack|discord|webhook")
# Cheap first look (plain substring tests, lower-cased): a string holding none of these
# cannot hold a secret the patterns above find. Much faster than one case-insensitive regex.
_MARKERS = (
    "sk-",
    "sk_",
    "rk_",
    "gh",
    "hf_",
    "glpat-",
    "xox",
    "lmops_",
    "akia",
    "asia",
    "agpa",
    "aida",
    "aroa",
    "anpa",
    "anva",
    "aipa",
    "aiza",
    "eyj",
    "bearer",
    "basic",
    "digest",
    "token",
    "://",
    "pass",
    "pwd",
    "secret",
    "key",
    "auth",
    "credential",
    "cookie",
    "salt",
    "dsn",
    "private",
    "sig",
    "hooks.slack",
    "discord",
    "webhook",
)


def _maybe(text: str) -> bool:
    lowered = text.lower()
    # A plain loop: this runs on every string recorded, and a generator costs more here.
    for marker in _MARKERS:  # noqa: SIM110 - see above
        if marker in lowered:
            return True
    return False


def _shape(match: re.Match[str]) -> str:
    kept = match.group("keep") or match.group("alnum") or match.group("lmops")
    return f"{kept}{MASK}" if kept else MASK


def _may_shape(text: str) -> bool:
    """Whether ``text`` holds a prefix one of :data:`_SHAPES` starts with (that pattern is
    case-sensitive, so plain substring tests decide it exactly)."""
    for prefix in _SHAPE_PREFIXES:  # noqa: SIM110 - a plain loop, as in _maybe
        if prefix in text:
            return True
    return False


def _may_hook(text: str) -> bool:
    """Whether ``text`` holds one of the words every match of ``_HOOK_PATH`` holds.

    That pattern ignores case the way ``re`` does, which also folds a few letters outside
    ASCII onto ASCII ones (``ſ`` onto ``s``): ASCII text is tested lower-cased, any other
    text with a pattern that folds the same way.
    """
    if text.isascii():
        lowered = text.lower()
        return "slack" in lowered or "discord" in lowered or "webhook" in lowered
    return _HOOK_HOSTS.search(text) is not None


def _may_scheme(text: str) -> bool:
    """Whether ``text`` may hold what ``_AUTH_SCHEME`` matches: a scheme word followed by
    white space (ASCII text is searched lower-cased; other text is left to the pattern)."""
    if not text.isascii():
        return True
    lowered = text.lower()
    for word in _SCHEME_WORDS:
        at = lowered.find(word)
        while at != -1:
            after = at + len(word)
            if after < len(lowered) and lowered[after].isspace():
                return True
            at = lowered.find(word, after)
    return False


def redact_text(text: str) -> str:
    """``text`` with every secret found by its shape masked (see the module docstring)."""
    if not _maybe(text):
        return text
    text = _PRIVATE_KEY.sub(lambda m: f"-----BEGIN {m.group(1)}PRIVATE KEY-----{MASK}", text)
    # Each pattern below runs only where what it needs is there: the URL patterns need
    # "://" and "@", the shapes one of their prefixes, the hooks a host word, the schemes a
    # scheme word and white space. A skipped pattern could not have matched, so the text
    # comes out the same; most text that passes _maybe holds few of them (a signed
    # decision's statement: 0.2 -> 0.1 ms).
    if "://" in text and "@" in text:
        text = _URL_PASSWORD.sub(lambda m: f"{m.group(1)}:{MASK}@", text)
        text = _URL_TOKEN_USER.sub(lambda m: f"{m.group(1)}{MASK}@", text)
    if _may_shape(text):
        text = _SHAPES.sub(_shape, text)
    if _may_hook(text):
        text = _HOOK_PATH.sub(lambda m: f"{m.group(1)}/{MASK}", text)
    if _may_scheme(text):
        text = _AUTH_SCHEME.sub(lambda m: f"{m.group(1)}{m.group(2)}{MASK}", text)
    return _PAIR.sub(lambda m: f"{m.group(1)}{m.group(2)}{MASK}", text)


@lru_cache(maxsize=4096)
def is_secret_key(key: str) -> bool:
    """Whether a mapping key (a parameter, header or field name) names a secret."""
    parts = [p for p in _SPLIT.split(_CAMEL.sub("_", key).lower()) if p]
    if not parts:
        return False
    if any(p in _ANY_PART for p in parts) or parts[-1] in _LAST_PART:
        return True
    if any(pair in _PAIRS for pair in zip(parts, parts[1:], strict=False)):
        return True
    if parts[-1] in ("token", "tokens"):
        if len(parts) == 1:
            return parts[0] == "token"
        return parts[-2] not in _TOKENIZER_PREFIXES and parts[-1] == "token"
    return False


@lru_cache(maxsize=4096)
def _redacted_key(key: str) -> str:
    """A mapping key, redacted like any text. Keys come from a small vocabulary in which
    several hold a marker (``digest`` holds ``sig``), so each is worked out once."""
    return redact_text(key)


def _looks_like_word_piece(value: str) -> bool:
    # A bare ``token`` key also names a tokenizer's piece of text ("hello"); a credential
    # is long and has no spaces.
    return len(value) < 12 or any(c.isspace() for c in value)


def _mask(value: Any, key: str) -> Any:
    """The value of a secret key, masked (containers keep their shape)."""
    if value is None or value == "" or isinstance(value, bool):
        return value
    if isinstance(value, Mapping):
        return {k: _mask(v, key) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_mask(v, key) for v in value)
    if key.strip().lower() == "token" and isinstance(value, str) and _looks_like_word_piece(value):
        return value
    return MASK


def redact(value: Any) -> Any:
    """A copy of ``value`` with secrets masked, recursively (dicts, lists, tuples, strings).

    Other objects are returned as they are: call this on the JSON-like data about to be
    stored or shown.
    """
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        out: dict[Any, Any] = {}
        for k, v in value.items():
            if isinstance(k, str):
                out[_redacted_key(k)] = _mask(v, k) if is_secret_key(k) else redact(v)
            else:
                out[k] = redact(v)
        return out
    if isinstance(value, list | tuple):
        return type(value)(redact(v) for v in value)
    if isinstance(value, bytes):
        text = value.decode("utf-8", "replace")
        return redact_text(text).encode() if _maybe(text) else value
    return value


__all__ = ["MASK", "is_secret_key", "redact", "redact_text"]
