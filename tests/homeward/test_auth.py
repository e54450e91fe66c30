"""Login, sessions, logout: tokens stored hashed, uniform refusals, everything audited."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from homeward.auth import SESSION_COOKIE


def log_in(api: httpx.Client, make: Any, name: str, password: str | None = None) -> httpx.Response:
    return api.post(
        "/api/v1/auth/login",
        json={"username": make.username(name), "password": password or make.password(name)},
    )


def test_login_gives_a_token_and_an_httponly_strict_cookie(
    api: httpx.Client, conn: Any, make: Any
) -> None:
    world = make.site()
    uid = make.user(world, "drwang")
    r = log_in(api, make, "drwang")
    assert r.status_code == 200, r.text
    body = r.json()
    token = body["token"]
    assert body["token_type"] == "bearer"
    assert body["user"] == {
        "id": uid,
        "username": make.username("drwang"),
        "display_name": "Drwang",
        "role": "doctor",
        "site_id": world.site_id,
        "clinical": True,
    }
    expires = datetime.fromisoformat(body["expires_at"])
    assert abs(expires - (datetime.now(UTC) + timedelta(hours=12))) < timedelta(minutes=1)

    cookie = r.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}={token};")
    lowered = cookie.lower()
    assert "httponly" in lowered
    assert "samesite=strict" in lowered
    assert "path=/" in lowered
    assert "max-age=43200" in lowered
    assert "secure" not in lowered  # local environment: plain http on 127.0.0.1

    # Only the SHA-256 of the token is stored.
    rows = conn.execute("SELECT token_sha256 FROM user_sessions WHERE user_id = %s", (uid,))
    assert [bytes(r["token_sha256"]) for r in rows] == [hashlib.sha256(token.encode()).digest()]

    # Bearer header, or the cookie alone (what the panel page uses).
    bearer = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=str(api.base_url)) as fresh:
        assert fresh.get("/api/v1/me", headers=bearer).json()["id"] == uid
        assert fresh.get("/api/v1/me").status_code == 401
    assert api.get("/api/v1/me").json()["id"] == uid

    [audit] = conn.execute(
        "SELECT * FROM audit_log WHERE actor = %s", (make.username("drwang"),)
    ).fetchall()
    assert (audit["action"], audit["actor_user_id"], audit["client_addr"]) == (
        "auth.login",
        uid,
        "127.0.0.1",
    )


def test_failed_logins_all_look_the_same_and_are_audited(
    api: httpx.Client, conn: Any, make: Any
) -> None:
    world = make.site()
    make.user(world, "drwang")
    make.user(world, "retired")
    conn.execute("UPDATE users SET active = false WHERE id = %s", (world.users["retired"],))

    wrong = log_in(api, make, "drwang", password="not-the-password")
    unknown = log_in(api, make, "nobody", password="whatever-it-is")
    disabled = log_in(api, make, "retired")
    bodies = []
    for r in (wrong, unknown, disabled):
        assert r.status_code == 401
        assert r.headers["content-type"].startswith("application/problem+json")
        assert "set-cookie" not in r.headers
        body = r.json()
        body.pop("instance", None)
        bodies.append(body)
    assert bodies[0] == bodies[1] == bodies[2]
    assert bodies[0]["type"] == "/problems/invalid-credentials"
    assert bodies[0]["detail"] == "Unknown username or wrong password."

    rows = conn.execute(
        "SELECT actor, actor_user_id, detail FROM audit_log"
        " WHERE action = 'auth.login_failed' AND detail->>'username' LIKE %s ORDER BY id",
        (f"%-{make.tag}",),
    ).fetchall()
    assert [(r["detail"]["username"], r["detail"]["reason"]) for r in rows] == [
        (make.username("drwang"), "wrong-password"),
        (make.username("nobody"), "unknown-user"),
        (make.username("retired"), "inactive"),
    ]
    assert [r["actor_user_id"] for r in rows] == [
        world.users["drwang"],
        None,
        world.users["retired"],
    ]
    assert {r["actor"] for r in rows} == {"anonymous"}


def test_logout_revokes_the_session_and_clears_the_cookie(
    api: httpx.Client, conn: Any, make: Any
) -> None:
    world = make.site()
    make.user(world, "drwang")
    token = log_in(api, make, "drwang").json()["token"]
    bearer = {"Authorization": f"Bearer {token}"}
    r = api.post("/api/v1/auth/logout", headers=bearer)
    assert r.status_code == 204
    assert f'{SESSION_COOKIE}=""' in r.headers["set-cookie"]
    assert "max-age=0" in r.headers["set-cookie"].lower()
    r = api.get("/api/v1/me", headers=bearer)
    assert r.status_code == 401
    assert r.json()["type"] == "/problems/unauthenticated"
    actions = [
        row["action"]
        for row in conn.execute(
            "SELECT action FROM audit_log WHERE actor = %s ORDER BY id", (make.username("drwang"),)
        )
    ]
    assert actions == ["auth.login", "auth.logout"]


def test_an_expired_session_is_refused(api: httpx.Client, conn: Any, make: Any) -> None:
    world = make.site()
    uid = make.user(world, "drwang")
    bearer = {"Authorization": f"Bearer {log_in(api, make, 'drwang').json()['token']}"}
    assert api.get("/api/v1/me", headers=bearer).status_code == 200
    conn.execute(
        "UPDATE user_sessions SET expires_at = now() - interval '1 second' WHERE user_id = %s",
        (uid,),
    )
    assert api.get("/api/v1/me", headers=bearer).status_code == 401


def test_disabling_a_user_ends_their_sessions(api: httpx.Client, conn: Any, make: Any) -> None:
    world = make.site()
    uid = make.user(world, "drwang")
    bearer = {"Authorization": f"Bearer {log_in(api, make, 'drwang').json()['token']}"}
    conn.execute("UPDATE users SET active = false WHERE id = %s", (uid,))
    assert api.get("/api/v1/me", headers=bearer).status_code == 401


def test_a_bad_bearer_token_is_not_rescued_by_the_cookie(api: httpx.Client, make: Any) -> None:
    world = make.site()
    make.user(world, "drwang")
    assert log_in(api, make, "drwang").status_code == 200  # the client now holds the cookie
    assert api.get("/api/v1/me").status_code == 200
    r = api.get("/api/v1/me", headers={"Authorization": "Bearer forged"})
    assert r.status_code == 401


def test_an_operator_is_told_it_sees_no_clinical_data(api: httpx.Client, make: Any) -> None:
    world = make.site()
    make.user(world, "ops", role="operator", panel=False)
    body = log_in(api, make, "ops").json()
    assert body["user"]["role"] == "operator"
    assert body["user"]["clinical"] is False
