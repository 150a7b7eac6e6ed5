"""Credentials hidden before they leave the machine they belong to.

A URI in ``headway.yaml`` or a ``HEADWAY_*`` variable may carry a password
(``postgresql://user:PASSWORD@host/db``) or a token in its query string
(``https://host/?token=TOKEN``). Everything headway records or shows (MLflow params, tags
and artifacts, model cards, audit records, log lines and error messages) goes through
these functions first, so the secret is replaced by :data:`MASK`:

- :func:`redact_uri` hides the password and secret query values of one URI;
- :func:`redact_text` does the same for every URI inside a longer text (an error message);
- :func:`redact_config` walks a configuration dict (keys that name a URI, and any string
  that carries credentials);
- :func:`redact_yaml` gives a ``headway.yaml`` text with its credentials hidden, keeping
  its comments where it can.

Example:
    >>> redact_uri("postgresql://headway:s3cret@db.internal/optuna")
    'postgresql://headway:***@db.internal/optuna'
    >>> redact_uri("https://mlflow.internal/?token=abc&x=1")
    'https://mlflow.internal/?token=***&x=1'
"""

from __future__ import annotations

import re
from typing import Any

import yaml

__all__ = ["MASK", "redact_config", "redact_text", "redact_uri", "redact_yaml"]

MASK = "***"

# Query parameters whose value is a credential (compared in lower case).
_SECRET_PARAMS = frozenset(
    {
        "password",
        "passwd",
        "pwd",
        "sslpassword",
        "token",
        "access_token",
        "auth_token",
        "refresh_token",
        "id_token",
        "api_key",
        "apikey",
        "secret",
        "client_secret",
        "sig",
        "signature",
        "x-amz-signature",
        "x-amz-security-token",
    }
)
# Configuration keys whose whole value is a credential.
_SECRET_KEYS = frozenset({"password", "passwd", "token", "secret", "api_key", "client_secret"})

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*):")
# SQLAlchemy's reading of ``//user:password@``: a password may hold '/', '?' or '#'.
_USERINFO = re.compile(r"^//([^:/?#@]*):([^@]*)@")
# A URI inside free text: ``scheme://`` up to whitespace or a quote.
_URI_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^\s'\"<>`]+")


def redact_uri(uri: str) -> str:
    """``uri`` with its password and secret query values replaced by :data:`MASK`.

    The rest of the text is kept as written (user, host, path, other parameters), and a
    string without credentials comes back unchanged, so the result still tells where a
    store is. ``postgresql://u:p@h/db?sslpassword=k`` gives
    ``postgresql://u:***@h/db?sslpassword=***``.
    """
    match = _SCHEME.match(uri)
    if match is None:
        return uri
    head, rest = uri[: match.end()], uri[match.end() :]
    if rest.startswith("//"):
        rest = _redact_userinfo(rest)
    query_at = rest.find("?")
    if query_at >= 0:
        fragment_at = rest.find("#", query_at)
        end = fragment_at if fragment_at >= 0 else len(rest)
        rest = rest[: query_at + 1] + _redact_query(rest[query_at + 1 : end]) + rest[end:]
    return head + rest


def _redact_userinfo(rest: str) -> str:
    """``//user:password@host...`` with the password masked."""
    authority_end = len(rest)
    for stop in "/?#":
        found = rest.find(stop, 2)
        if found >= 0:
            authority_end = min(authority_end, found)
    authority = rest[2:authority_end]
    if "@" in authority:
        userinfo, _, hostport = authority.rpartition("@")
        user, colon, password = userinfo.partition(":")
        if not colon or not password:
            return rest
        return f"//{user}:{MASK}@{hostport}{rest[authority_end:]}"
    # A password with '/', '?' or '#' in it, not percent-encoded: read as SQLAlchemy does.
    match = _USERINFO.match(rest)
    if match is None or not match.group(2):
        return rest
    return f"//{match.group(1)}:{MASK}@{rest[match.end() :]}"


def _redact_query(query: str) -> str:
    parts = []
    for part in query.split("&"):
        key, equals, value = part.partition("=")
        if equals and value and key.lower() in _SECRET_PARAMS:
            part = f"{key}={MASK}"
        parts.append(part)
    return "&".join(parts)


def redact_text(text: str) -> str:
    """``text`` with every ``scheme://...`` URI in it passed through :func:`redact_uri`."""
    return _URI_IN_TEXT.sub(lambda m: redact_uri(m.group(0)), text)


def _is_uri_key(key: str) -> bool:
    key = key.lower()
    return key.endswith(("uri", "url", "storage", "address", "dsn"))


def redact_config(value: Any, *, key: str = "") -> Any:
    """A copy of a configuration (nested dicts and lists) with credentials masked.

    A value under a key that names a URI (``*_uri``, ``*_url``, ``url``, ``*storage``,
    ``*address``, ``*dsn``) is passed through :func:`redact_uri`; a value under a key that
    names a secret (``password``, ``token``, ...) is replaced whole; any other string
    through :func:`redact_text`. Keys and non-string values are kept.
    """
    if isinstance(value, dict):
        return {k: redact_config(v, key=str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_config(v, key=key) for v in value]
    if not isinstance(value, str):
        return value
    if key.lower() in _SECRET_KEYS:
        return MASK if value else value
    if _is_uri_key(key):
        return redact_text(redact_uri(value))
    return redact_text(value)


def redact_yaml(text: str) -> str:
    """A ``headway.yaml`` text with its credentials masked (see :func:`redact_config`).

    URIs are masked in place, so comments and layout survive; when that does not give
    the masked configuration (a secret under a ``password`` key, a password with a quote
    in it), the masked configuration is written out as YAML instead, without comments.
    Text that is not a YAML mapping is masked in place only.
    """
    in_place = redact_text(text)
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError:
        return in_place
    if not isinstance(raw, dict):
        return in_place
    expected = redact_config(raw)
    try:
        if yaml.safe_load(in_place) == expected:
            return in_place
    except yaml.YAMLError:
        pass
    return yaml.safe_dump(expected, sort_keys=False, allow_unicode=True)
