"""WS-Security UsernameToken (PasswordDigest) as ONVIF requires it.

``Digest = Base64(SHA-1(nonce + created + password))``; the Created time must
be within a skew window of our clock and a nonce may be used once within it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from lxml import etree

from broker.protocols.onvif import namespaces as ns
from broker.protocols.onvif.errors import InvalidArgumentError, NotAuthorizedError
from broker.protocols.onvif.timeexpr import parse_datetime

_WSSE = f"{{{ns.WSSE}}}"
_WSU = f"{{{ns.WSU}}}"
_MAX_FIELD = 512


@dataclass(frozen=True, slots=True)
class UsernameToken:
    """A wsse:UsernameToken as received: Created is kept verbatim, it is digest input."""

    username: str
    password: str
    password_type: str
    nonce: bytes
    created: str


def password_digest(nonce: bytes, created: str, password: str) -> str:
    """Base64(SHA-1(nonce + created + password)), the WS-Security PasswordDigest."""
    digest = hashlib.sha1(nonce + created.encode() + password.encode(), usedforsecurity=False)
    return base64.b64encode(digest.digest()).decode("ascii")


def parse_username_token(header: etree._Element | None) -> UsernameToken | None:
    """Extract the UsernameToken from a SOAP header, None when there is none."""
    if header is None:
        return None
    token = header.find(f"{_WSSE}Security/{_WSSE}UsernameToken")
    if token is None:
        return None
    username = (token.findtext(f"{_WSSE}Username") or "").strip()
    password_element = token.find(f"{_WSSE}Password")
    password = (password_element.text or "").strip() if password_element is not None else ""
    password_type = (
        password_element.get("Type", ns.WSSE_PASSWORD_TEXT)
        if password_element is not None
        else ns.WSSE_PASSWORD_TEXT
    )
    nonce_text = (token.findtext(f"{_WSSE}Nonce") or "").strip()
    created = (token.findtext(f"{_WSU}Created") or token.findtext(f"{_WSSE}Created") or "").strip()
    if any(len(v) > _MAX_FIELD for v in (username, password, nonce_text, created)):
        raise NotAuthorizedError("UsernameToken field too long", reason="malformed_token")
    try:
        nonce = base64.b64decode(nonce_text, validate=True) if nonce_text else b""
    except (binascii.Error, ValueError) as exc:
        raise NotAuthorizedError("Nonce is not Base64", reason="malformed_token") from exc
    return UsernameToken(username, password, password_type, nonce, created)


def _same(expected: str, given: str) -> bool:
    """Constant-time comparison that also copes with non-ASCII input."""
    return hmac.compare_digest(expected.encode(), given.encode(errors="surrogateescape"))


class UsernameTokenVerifier:
    """Checks tokens against configured users, with freshness and replay protection."""

    def __init__(
        self,
        users: Mapping[str, str],
        *,
        max_skew: timedelta = timedelta(minutes=5),
        allow_password_text: bool = False,
        max_nonces: int = 100_000,
    ) -> None:
        self._users = dict(users)
        self._max_skew = max_skew
        self._allow_text = allow_password_text
        self._max_nonces = max_nonces
        self._nonces: OrderedDict[tuple[str, bytes], datetime] = OrderedDict()

    def verify(self, token: UsernameToken | None, now: datetime) -> str:
        """Return the authenticated user name or raise :class:`NotAuthorizedError`."""
        if token is None:
            raise NotAuthorizedError("no WS-Security UsernameToken", reason="missing_credentials")
        expected = self._users.get(token.username)
        if token.password_type == ns.WSSE_PASSWORD_DIGEST:
            self._check_fresh(token, now)
            # The digest is computed for unknown users too, so timing tells nothing.
            computed = password_digest(token.nonce, token.created, expected or "")
            if not _same(computed, token.password) or expected is None:
                raise NotAuthorizedError("wrong user name or password", reason="bad_credentials")
            self._check_replay(token, now)
        elif token.password_type == ns.WSSE_PASSWORD_TEXT:
            if not self._allow_text:
                raise NotAuthorizedError("PasswordText is refused", reason="password_text")
            if not _same(expected or "", token.password) or expected is None:
                raise NotAuthorizedError("wrong user name or password", reason="bad_credentials")
        else:
            raise NotAuthorizedError("unknown password type", reason="malformed_token")
        return token.username

    def _check_fresh(self, token: UsernameToken, now: datetime) -> None:
        if not token.nonce or not token.created:
            raise NotAuthorizedError("digest needs Nonce and Created", reason="malformed_token")
        try:
            created = parse_datetime(token.created)
        except InvalidArgumentError as exc:
            raise NotAuthorizedError("Created is not a dateTime", reason="malformed_token") from exc
        if abs(now - created) > self._max_skew:
            raise NotAuthorizedError("Created is outside the accepted window", reason="stale")

    def _check_replay(self, token: UsernameToken, now: datetime) -> None:
        horizon = now - 2 * self._max_skew
        while self._nonces and next(iter(self._nonces.values())) < horizon:
            self._nonces.popitem(last=False)
        key = (token.username, token.nonce)
        if key in self._nonces:
            raise NotAuthorizedError("nonce already used", reason="replayed_nonce")
        self._nonces[key] = now
        if len(self._nonces) > self._max_nonces:
            self._nonces.popitem(last=False)
