"""Token freshness and login choice: the decisions the hot path makes from the store's records."""

from __future__ import annotations

from kubectl_ace.records import MIN_VALIDITY, ClusterToken, Login, ServerRecord, token_id_of
from kubectl_ace.tokens import Credential

NOW = 1_800_000_000.0
DAY = 86400.0


def token(expires: float | None, minted: float | None = NOW - DAY) -> ClusterToken:
    return ClusterToken("kubeconfig-u-x.c-1abcde:secret", minted=minted, expires=expires)


def login(expires: float | None = NOW + 30 * DAY, secret: str = "kubeconfig-u-x:login") -> Login:
    return Login("alice", secret, user_id="u-x", expires=expires)


def test_a_token_with_plenty_of_time_left_is_fresh():
    assert token(NOW + 10 * DAY).is_fresh(login(), NOW)


def test_a_token_that_never_expires_is_fresh():
    assert token(None).is_fresh(login(), NOW)


def test_a_token_about_to_expire_is_not_handed_out():
    almost = token(NOW + MIN_VALIDITY - 1)
    assert not almost.is_usable(NOW) and not almost.is_fresh(login(), NOW)


def test_a_token_inside_its_refresh_margin_is_due_when_the_login_could_mint_a_longer_one():
    # a 30-day token's margin is capped at an hour; 30 minutes left is inside it
    due = token(NOW + 1800, minted=NOW - 30 * DAY)
    assert due.refresh_margin() == 3600.0
    assert due.is_usable(NOW) and not due.is_fresh(login(), NOW)


def test_a_due_token_is_kept_when_the_login_cannot_do_better():
    due = token(NOW + 1800, minted=NOW - 30 * DAY)
    assert due.is_fresh(login(expires=NOW + 1900), NOW)      # a new one could not outlive it by much
    assert due.is_fresh(login(expires=NOW + 60), NOW)        # the login cannot mint at all
    assert due.is_fresh(None, NOW)


def test_refresh_margin_is_a_tenth_of_the_life_between_two_minutes_and_an_hour():
    assert token(NOW + 600, minted=NOW - 400).refresh_margin() == 120.0
    assert token(NOW + 5000, minted=NOW - 5000).refresh_margin() == 1000.0
    assert token(None).refresh_margin() == 120.0


def test_an_imported_login_without_a_credential_cannot_mint():
    assert not login(secret="").can_mint(NOW)
    assert not login(expires=NOW + 60).can_mint(NOW)
    assert login(expires=None).can_mint(NOW)


def test_user_picks_a_login_by_name_or_id_else_the_current_one():
    alice, bob = Login("alice", "t-a:x", user_id="u-a"), Login("bob", "t-b:x", user_id="u-b")
    record = ServerRecord("https://r", current_user="bob", logins={"alice": alice, "bob": bob})
    assert record.login("alice") is alice and record.login("u-a") is alice
    assert record.login("some-cluster-name") is bob  # `rancher token --user <cluster>` names no login
    assert record.login() is bob
    assert ServerRecord("https://r", logins={"alice": alice}).login() is alice
    assert ServerRecord("https://r", logins={"alice": alice, "bob": bob}).login() is None


def test_records_round_trip_and_keep_unknown_keys():
    data = {"version": 1, "server": "https://r", "cacert": None, "insecure": False, "current_user": "alice",
            "token_api": "ext",
            "future": {"kept": True},
            "logins": {"alice": {"token": "t-a:x", "token_id": "t-a", "user_id": "u-a", "provider": "local",
                                 "origin": "login", "expires": NOW, "expires_at": "", "created": NOW, "extra": 1,
                                 "clusters": {"c-1": {"token": "k:y", "token_id": "k", "minted": NOW,
                                                      "expires": NOW, "expires_at": "", "refused_at": NOW}}}}}
    assert ServerRecord.from_dict(data).to_dict(1) == data


def test_token_names_of_both_shapes():
    assert token_id_of("kubeconfig-u-abc:secret") == "kubeconfig-u-abc"
    assert token_id_of("ext/token-xyz12:secret") == "token-xyz12"


def test_expiry_is_reported_early_but_never_in_the_past():
    assert Credential("t", NOW + 3600).reported_expiry(NOW) == NOW + 3600 - 30
    assert Credential("t", NOW + 10).reported_expiry(NOW) == NOW + 1
    assert Credential("t", None).reported_expiry(NOW) is None


def test_a_login_remembers_the_logins_it_replaced_until_they_expire():
    first = Login("alice", "t-1:x", expires=NOW + DAY)
    second = Login("alice", "t-2:x", expires=NOW + 2 * DAY)
    second.succeed(first, NOW)
    third = Login("alice", "t-3:x", expires=NOW + 3 * DAY)
    third.succeed(second, NOW)
    assert third.sweep_ids() == {"t-1", "t-2", "t-3"}
    later = Login("alice", "t-4:x")
    later.succeed(third, NOW + DAY + 1)  # t-1 has expired, and every cluster token minted from it with it
    assert later.sweep_ids() == {"t-2", "t-3", "t-4"}
