"""Users, passwords, tokens and API keys.

- Passwords: argon2id (argon2-cffi); unknown users cost the same time as wrong passwords.
- API: short-lived JWT access tokens plus refresh tokens that rotate (the old one is revoked).
- Machines: API keys ``slk_<prefix>_<secret>``; only a SHA-256 hash is stored.
- Web: the same signed token in an HttpOnly session cookie.
- Login failures are rate-limited per client address and per user name, and never say which part
  was wrong.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import delete, select

from spendlab.app.store import ApiKey, RevokedToken, Role, Store, User
from spendlab.config import Settings
from spendlab.errors import ConfigError, NotFoundError, SpendLabError

_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("not a real password, used to equalise timing")
USERNAME = re.compile(r"^[A-Za-z0-9_.@-]{3,64}$")
MIN_PASSWORD = 10
ALGORITHM = "HS256"


class AuthError(SpendLabError, PermissionError):
    """Not authenticated (401) or not allowed (403)."""

    def __init__(self, message: str, *, status: int = 401) -> None:
        super().__init__(message)
        self.status = status


class RateLimited(AuthError):
    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many failed logins; try again in {retry_after} s", status=429)
        self.retry_after = retry_after


@dataclass(frozen=True)
class Principal:
    """Who is calling, with which role, authenticated how."""

    username: str
    role: Role
    via: str  # "token", "session" or "api_key"

    def require(self, needed: Role) -> None:
        if not self.role.allows(needed):
            raise AuthError(
                f"this needs the {needed.value} role; you are {self.role.value}. "
                "Ask an admin to change your role",
                status=403,
            )


# -- passwords and users ---------------------------------------------------------------------


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def check_password_rules(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise ConfigError(f"password too short: use at least {MIN_PASSWORD} characters")
    if len(password) > 1024:
        raise ConfigError("password too long: use at most 1024 characters")


def create_user(store: Store, username: str, password: str, role: Role | str) -> User:
    """Add a user; the name must be new, the password long enough."""
    if not USERNAME.match(username):
        raise ConfigError(
            f"user name {username!r} is not allowed: use 3-64 letters, digits, or _ . @ -"
        )
    check_password_rules(password)
    try:
        role = Role(role)
    except ValueError:
        raise ConfigError(
            f"unknown role {role!r}; use one of {', '.join(r.value for r in Role)}"
        ) from None
    with store.session() as s:
        if s.scalar(select(User).where(User.username == username)) is not None:
            raise ConfigError(f"user {username!r} already exists; pick another name")
        user = User(username=username, password_hash=hash_password(password), role=role.value)
        s.add(user)
        s.flush()
        return user


def list_users(store: Store) -> list[dict[str, Any]]:
    with store.session() as s:
        return [u.to_dict() for u in s.scalars(select(User).order_by(User.username))]


def set_password(store: Store, username: str, password: str) -> None:
    check_password_rules(password)
    with store.session() as s:
        user = s.scalar(select(User).where(User.username == username))
        if user is None:
            raise ConfigError(f"no user {username!r}")
        user.password_hash = hash_password(password)


def authenticate(store: Store, username: str, password: str) -> User | None:
    """The user if the name and password match and the user is enabled, else None.

    Takes the same time whether or not the user exists."""
    with store.session() as s:
        user = s.scalar(select(User).where(User.username == username))
        stored = user.password_hash if user is not None else _DUMMY_HASH
        try:
            _hasher.verify(stored, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return None
        if user is None or user.disabled:
            return None
        if _hasher.check_needs_rehash(stored):
            user.password_hash = hash_password(password)
        user.last_login_at = datetime.now(UTC)
        return user


BAD_LOGIN = "wrong user name or password"


def login(store: Store, limiter: LoginLimiter, client: str, username: str, password: str) -> User:
    """The log-in use case of the API and the login page: the rate limit for ``client`` (the
    caller's address) and ``username``, then the credentials. The error never says which part
    failed."""
    limiter.check(client, username)
    user = authenticate(store, username, password)
    if user is None:
        limiter.failed(client, username)
        raise AuthError(BAD_LOGIN)
    limiter.succeeded(client, username)
    return user


# -- tokens ----------------------------------------------------------------------------------


class TokenService:
    """Signs and checks access, refresh and session tokens with the server's secret."""

    def __init__(self, settings: Settings, store: Store) -> None:
        key = settings.secret_key.get_secret_value() if settings.secret_key else None
        if key is not None and len(key) < 32:
            raise ConfigError("SPENDLAB_SECRET_KEY is too short: use at least 32 characters")
        self._key = key or secrets.token_urlsafe(48)
        self.ephemeral = key is None
        self.settings = settings
        self.store = store

    def _issue(
        self, user: User | Principal, kind: str, ttl: timedelta, family: str | None = None
    ) -> str:
        now = datetime.now(UTC)
        claims = {
            "sub": user.username,
            "role": Role(user.role).value,
            "typ": kind,
            "iat": now,
            "exp": now + ttl,
            "jti": secrets.token_hex(16),
        }
        if family is not None:
            claims["fam"] = family
        return jwt.encode(claims, self._key, algorithm=ALGORITHM)

    def issue_pair(self, user: User | Principal, family: str | None = None) -> dict[str, Any]:
        """An access and a refresh token. Refresh tokens of one login form a family (``fam``):
        each rotation keeps it, so replaying a rotated token can end the whole family."""
        access_ttl = timedelta(minutes=self.settings.access_token_minutes)
        return {
            "access_token": self._issue(user, "access", access_ttl),
            "refresh_token": self._issue(
                user,
                "refresh",
                timedelta(days=self.settings.refresh_token_days),
                family or secrets.token_hex(16),
            ),
            "token_type": "bearer",
            "expires_in": int(access_ttl.total_seconds()),
        }

    def issue_session(self, user: User) -> str:
        return self._issue(user, "session", timedelta(hours=self.settings.session_hours))

    def decode(self, token: str, kind: str) -> dict[str, Any]:
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=[ALGORITHM],
                options={"require": ["exp", "sub", "typ", "jti"]},
            )
        except jwt.ExpiredSignatureError:
            raise AuthError("token expired; log in again or use your refresh token") from None
        except jwt.PyJWTError:
            raise AuthError("invalid token; log in again") from None
        if claims.get("typ") != kind:
            raise AuthError(f"wrong token type: expected a {kind} token")
        return claims

    def principal(self, token: str, kind: str = "access") -> Principal:
        claims = self.decode(token, kind)
        if kind in ("refresh", "session") and self.is_revoked(claims["jti"], claims.get("fam")):
            raise AuthError("token revoked; log in again")
        return self._live_user(claims["sub"], via="session" if kind == "session" else "token")

    def _live_user(self, username: str, via: str) -> Principal:
        # roles and disabling take effect at once, not when the token expires
        with self.store.session() as s:
            user = s.scalar(select(User).where(User.username == username))
            if user is None or user.disabled:
                raise AuthError("user no longer active; ask an admin")
            return Principal(user.username, Role(user.role), via)

    def revoke(self, token: str, kind: str) -> None:
        """Revoke one token; for a refresh token on logout, its whole family."""
        try:
            claims = self.decode(token, kind)
        except AuthError:
            return
        self._revoke_ids(claims, [claims["jti"]] + ([_fam(claims["fam"])] if "fam" in claims
                                                     and kind == "refresh" else []))  # fmt: skip

    def _revoke_ids(self, claims: dict[str, Any], ids: list[str]) -> None:
        # a family lives as long as its newest token could: the refresh lifetime from now
        exp = max(
            datetime.fromtimestamp(claims["exp"], UTC),
            datetime.now(UTC) + timedelta(days=self.settings.refresh_token_days),
        )
        with self.store.session() as s:
            for jti in ids:
                if s.get(RevokedToken, jti) is None:
                    s.add(RevokedToken(jti=jti, expires_at=exp))
            s.execute(delete(RevokedToken).where(RevokedToken.expires_at < datetime.now(UTC)))

    def is_revoked(self, jti: str, family: str | None = None) -> bool:
        with self.store.session() as s:
            if s.get(RevokedToken, jti) is not None:
                return True
            return family is not None and s.get(RevokedToken, _fam(family)) is not None

    def refresh(self, refresh_token: str) -> dict[str, Any]:
        """Rotate: a new pair (same family) for a valid refresh token, which is then revoked.
        Presenting a refresh token that was already rotated means it was copied: the whole
        family ends (every newer token of that login stops working), as OAuth 2.0 Security
        BCP's refresh-token reuse detection asks."""
        claims = self.decode(refresh_token, "refresh")
        fam = claims.get("fam")
        if self.is_revoked(claims["jti"]):
            if fam is not None:
                self._revoke_ids(claims, [_fam(fam)])
            raise AuthError("token revoked (reused); every session of that login ended; log in")
        principal = self.principal(refresh_token, "refresh")
        self._revoke_ids(claims, [claims["jti"]])
        return self.issue_pair(principal, family=fam)


def _fam(family: str) -> str:
    """The revocation-list entry that ends a refresh-token family."""
    return f"fam:{family}"[:64]


# -- API keys --------------------------------------------------------------------------------

KEY_PATTERN = re.compile(r"^slk_([A-Za-z0-9]{12})_([A-Za-z0-9_-]{20,})$")


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_api_key(store: Store, owner: str, name: str, role: Role | str) -> tuple[ApiKey, str]:
    """A new key for ``owner``; returns the stored record and the secret (shown once)."""
    role = Role(role)
    name = name.strip()
    if not name or len(name) > 100:
        raise ConfigError("API key name must be 1-100 characters")
    with store.session() as s:
        user = s.scalar(select(User).where(User.username == owner))
        if user is None:
            raise ConfigError(f"no user {owner!r}")
        if not Role(user.role).allows(role):
            raise ConfigError(
                f"a key cannot have more rights than its owner ({user.role}); pick a lower role"
            )
        prefix = secrets.token_hex(6)
        secret = f"slk_{prefix}_{secrets.token_urlsafe(32)}"
        record = ApiKey(user=user, name=name, prefix=prefix, key_hash=_digest(secret), role=role)
        s.add(record)
        s.flush()
        s.refresh(record, ["user"])
        return record, secret


def list_api_keys(store: Store) -> list[dict[str, Any]]:
    with store.session() as s:
        return [k.to_dict() for k in s.scalars(select(ApiKey).order_by(ApiKey.id))]


def revoke_api_key(store: Store, key_id: int) -> None:
    """Revoke a key (idempotent); its secret stops working at once."""
    with store.session() as s:
        record = s.get(ApiKey, key_id) if 0 < key_id < 2**62 else None
        if record is None:
            raise NotFoundError(f"no API key {key_id}")
        if record.revoked_at is None:
            record.revoked_at = datetime.now(UTC)


def check_api_key(store: Store, key: str) -> Principal:
    m = KEY_PATTERN.match(key)
    if not m:
        raise AuthError("malformed API key; keys look like slk_<12 chars>_<secret>")
    with store.session() as s:
        record = s.scalar(select(ApiKey).where(ApiKey.prefix == m.group(1)))
        if record is None or not hmac.compare_digest(record.key_hash, _digest(key)):
            raise AuthError("unknown API key")
        if record.revoked_at is not None:
            raise AuthError("API key revoked; ask an admin for a new one")
        if record.user.disabled:
            raise AuthError("the key's owner is disabled")
        record.last_used_at = datetime.now(UTC)
        role = min(Role(record.role), Role(record.user.role), key=lambda r: r.rank)
        return Principal(record.user.username, role, "api_key")


# -- login rate limit ------------------------------------------------------------------------


class LoginLimiter:
    """Failed logins per minute: at most ``limit`` for one user name from one client address;
    ``USER_FACTOR x limit`` for one user name from all addresses together (distributed
    guessing); ``ADDRESS_FACTOR x limit`` from one address over all names (password spraying).
    So a few wrong passwords typed by one person behind an office NAT lock out only that name
    there, not everyone behind the same address."""

    USER_FACTOR = 4
    ADDRESS_FACTOR = 10

    def __init__(self, limit: int, window: float = 60.0) -> None:
        self.limit = limit
        self.window = window
        self._fails: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _keys(self, client: str, username: str) -> tuple[tuple[str, int], ...]:
        name = username.lower()
        return (
            (f"pair:{client}\x00{name}", self.limit),
            (f"user:{name}", self.limit * self.USER_FACTOR),
            (f"ip:{client}", self.limit * self.ADDRESS_FACTOR),
        )

    def _recent(self, key: str, now: float) -> deque[float]:
        q = self._fails.setdefault(key, deque())
        while q and now - q[0] > self.window:
            q.popleft()
        return q

    def check(self, client: str, username: str) -> None:
        now = time.monotonic()
        with self._lock:
            for key, limit in self._keys(client, username):
                q = self._recent(key, now)
                if len(q) >= limit:
                    raise RateLimited(max(1, int(self.window - (now - q[0])) + 1))

    def failed(self, client: str, username: str) -> None:
        now = time.monotonic()
        with self._lock:
            for key, _ in self._keys(client, username):
                self._recent(key, now).append(now)

    def succeeded(self, client: str, username: str) -> None:
        with self._lock:
            self._fails.pop(f"pair:{client}\x00{username.lower()}", None)
