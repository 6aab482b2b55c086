"""Auth: argon2 hashes, timing-equal failures, tokens, refresh rotation, API keys, rate limit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt
import pytest

from spendlab.app.auth import (
    AuthError,
    LoginLimiter,
    RateLimited,
    TokenService,
    authenticate,
    check_api_key,
    create_api_key,
    create_user,
)
from spendlab.app.store import Role, User
from spendlab.errors import ConfigError

from .conftest import PASSWORD, make_settings


@pytest.fixture
def sqlite_store(tmp_path):
    from spendlab.app.store import open_store

    st = open_store(f"sqlite:///{tmp_path / 'a.db'}")
    yield st
    st.close()


def test_passwords_are_argon2id_and_never_stored_plain(store):
    create_user(store, "ada", PASSWORD, "admin")
    with store.session() as s:
        stored = s.query(User).one().password_hash
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored
    assert authenticate(store, "ada", PASSWORD).username == "ada"
    assert authenticate(store, "ada", PASSWORD + "x") is None
    assert authenticate(store, "nobody", PASSWORD) is None


@pytest.mark.parametrize(
    ("name", "password", "message"),
    [
        ("ab", PASSWORD, "not allowed"),
        ("robert'); DROP TABLE users;--", PASSWORD, "not allowed"),
        ("ok_name", "short", "too short"),
    ],
)
def test_user_rules(sqlite_store, name, password, message):
    with pytest.raises(ConfigError, match=message):
        create_user(sqlite_store, name, password, "viewer")


def test_duplicate_user_and_unknown_role(sqlite_store):
    create_user(sqlite_store, "ada", PASSWORD, "viewer")
    with pytest.raises(ConfigError, match="already exists"):
        create_user(sqlite_store, "ada", PASSWORD, "viewer")
    with pytest.raises(ConfigError, match="unknown role"):
        create_user(sqlite_store, "bob", PASSWORD, "superuser")


def test_disabled_users_cannot_log_in(sqlite_store):
    create_user(sqlite_store, "ada", PASSWORD, "viewer")
    with sqlite_store.session() as s:
        s.query(User).one().disabled = True
    assert authenticate(sqlite_store, "ada", PASSWORD) is None


def test_tokens_types_expiry_tampering_and_rotation(sqlite_store):
    user = create_user(sqlite_store, "ada", PASSWORD, "analyst")
    tokens = TokenService(make_settings(), sqlite_store)
    pair = tokens.issue_pair(user)
    p = tokens.principal(pair["access_token"])
    assert (p.username, p.role) == ("ada", Role.ANALYST)
    with pytest.raises(AuthError, match="wrong token type"):
        tokens.principal(pair["refresh_token"], "access")
    with pytest.raises(AuthError, match="invalid token"):
        tokens.principal(pair["access_token"][:-3] + "AAA")
    forged = jwt.encode(
        {"sub": "ada", "role": "admin", "typ": "access", "jti": "x", "exp": 9999999999},
        "another key" * 4,
        algorithm="HS256",
    )
    with pytest.raises(AuthError):
        tokens.principal(forged)
    expired = jwt.encode(
        {
            "sub": "ada",
            "typ": "access",
            "jti": "y",
            "exp": datetime.now(UTC) - timedelta(seconds=5),
        },
        tokens._key,
        algorithm="HS256",
    )
    with pytest.raises(AuthError, match="expired"):
        tokens.principal(expired)
    new = tokens.refresh(pair["refresh_token"])
    assert tokens.principal(new["access_token"]).username == "ada"
    with pytest.raises(AuthError, match="revoked"):  # a refresh token works once
        tokens.refresh(pair["refresh_token"])


def test_role_changes_apply_to_live_tokens(sqlite_store):
    user = create_user(sqlite_store, "ada", PASSWORD, "admin")
    tokens = TokenService(make_settings(), sqlite_store)
    access = tokens.issue_pair(user)["access_token"]
    with sqlite_store.session() as s:
        s.query(User).one().role = "viewer"
    assert tokens.principal(access).role is Role.VIEWER


def test_short_secret_is_refused(sqlite_store):
    with pytest.raises(ConfigError, match="too short"):
        TokenService(make_settings(secret_key="short"), sqlite_store)


def test_api_keys_hashed_capped_by_owner_and_revocable(sqlite_store):
    create_user(sqlite_store, "ana", PASSWORD, "analyst")
    with pytest.raises(ConfigError, match="more rights than its owner"):
        create_api_key(sqlite_store, "ana", "ci", "admin")
    record, secret = create_api_key(sqlite_store, "ana", "ci", "viewer")
    assert secret.startswith(f"slk_{record.prefix}_")
    assert secret not in record.key_hash
    p = check_api_key(sqlite_store, secret)
    assert (p.username, p.role, p.via) == ("ana", Role.VIEWER, "api_key")
    with pytest.raises(AuthError, match="unknown"):
        check_api_key(sqlite_store, secret[:-2] + "zz")
    with pytest.raises(AuthError, match="malformed"):
        check_api_key(sqlite_store, "slk_nope")
    with sqlite_store.session() as s:
        from spendlab.app.store import ApiKey

        s.get(ApiKey, record.id).revoked_at = datetime.now(UTC)
    with pytest.raises(AuthError, match="revoked"):
        check_api_key(sqlite_store, secret)


def test_login_limiter_per_name_address_and_spraying():
    lim = LoginLimiter(limit=3, window=60)
    for _ in range(3):
        lim.check("1.1.1.1", "ada")
        lim.failed("1.1.1.1", "ada")
    with pytest.raises(RateLimited) as e:
        lim.check("1.1.1.1", "ADA")  # that name from that address (case-insensitive)
    assert 1 <= e.value.retry_after <= 61
    lim.check("1.1.1.1", "bob")  # same office address, another user: not locked out
    lim.check("2.2.2.2", "ada")  # the same user from elsewhere: not yet
    for i in range(9):  # guessing one name from many addresses
        lim.failed(f"9.9.9.{i}", "ada")
    with pytest.raises(RateLimited):
        lim.check("3.3.3.3", "ada")
    lim.check("3.3.3.3", "carol")
    for i in range(30):  # spraying many names from one address
        lim.failed("6.6.6.6", f"user{i}")
    with pytest.raises(RateLimited):
        lim.check("6.6.6.6", "dora")
    lim.check("7.7.7.7", "dora")


def test_reused_refresh_token_ends_the_whole_family(sqlite_store):
    user = create_user(sqlite_store, "ada", PASSWORD, "analyst")
    tokens = TokenService(make_settings(), sqlite_store)
    first = tokens.issue_pair(user)
    other_login = tokens.issue_pair(user)
    second = tokens.refresh(first["refresh_token"])
    with pytest.raises(AuthError, match="reused"):  # a thief replays the rotated token
        tokens.refresh(first["refresh_token"])
    with pytest.raises(AuthError, match="revoked"):  # ... so the newer one is dead too
        tokens.refresh(second["refresh_token"])
    third = tokens.refresh(other_login["refresh_token"])  # another login is unaffected
    assert tokens.principal(third["access_token"]).username == "ada"
    tokens.revoke(third["refresh_token"], "refresh")  # logout ends that login's family
    with pytest.raises(AuthError, match="revoked"):
        tokens.refresh(other_login["refresh_token"])
