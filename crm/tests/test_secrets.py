"""Source tokens and API keys rotate by one mechanism (crm.secrets): every secret in its grace period works
until its own end, whatever rotations follow, and two rotations at once are serialised."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from crm import services
from crm.secrets import token_digest
from crm.tests.factories import SourceFactory
from distribution.routes import route_for_token_digest
from integrations import services as api_keys

pytestmark = pytest.mark.django_db


def source_works(token: str, at) -> bool:
    return route_for_token_digest(token_digest(token), now=at) is not None


def key_works(token: str, at) -> bool:
    return api_keys.authenticate(token, now=at) is not None


def rotate_source(owner, grace: timedelta, now) -> str:
    return services.regenerate_token(source=owner, grace=grace, now=now)


def rotate_key(owner, grace: timedelta, now) -> str:
    return api_keys.rotate_api_key(api_key=owner, grace=grace, now=now)[1]


def new_source():
    source = SourceFactory()
    return source, source.token


def new_key():
    return api_keys.create_api_key(name="telephony")


KINDS = [(new_source, rotate_source, source_works), (new_key, rotate_key, key_works)]


@pytest.mark.parametrize(("make", "rotate", "works"), KINDS, ids=["source token", "API key"])
def test_every_rotated_secret_works_until_its_own_grace_ends(make, rotate, works):
    owner, t1 = make()
    start = timezone.now()
    t2 = rotate(owner, timedelta(hours=24), start)  # t1 works for 24 h more
    t3 = rotate(owner, timedelta(hours=1), start + timedelta(minutes=5))  # t2 for 1 h; t1 keeps its 24 h
    t4 = rotate(owner, timedelta(0), start + timedelta(minutes=10))  # t3 stops now; t1 and t2 keep theirs

    def working(at) -> list[bool]:
        return [works(t, at) for t in (t1, t2, t3, t4)]

    assert working(start + timedelta(minutes=10)) == [True, True, False, True]
    just_before_t2_ends = start + timedelta(minutes=5, hours=1) - timedelta(microseconds=1)
    assert working(just_before_t2_ends) == [True, True, False, True]
    assert working(start + timedelta(minutes=5, hours=1)) == [True, False, False, True]  # ends at its moment
    assert working(start + timedelta(hours=24) - timedelta(seconds=1)) == [True, False, False, True]
    assert working(start + timedelta(hours=24)) == [False, False, False, True]


@pytest.mark.parametrize(("make", "rotate", "works"), KINDS, ids=["source token", "API key"])
def test_a_rotation_without_grace_stops_the_current_secret_at_once(make, rotate, works):
    owner, t1 = make()
    now = timezone.now()
    t2 = rotate(owner, timedelta(0), now)
    assert not works(t1, now) and works(t2, now)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("make", "rotate", "works"), KINDS, ids=["source token", "API key"])
def test_two_rotations_at_once_are_serialised_and_both_new_secrets_work(make, rotate, works):
    owner, t1 = make()
    now = timezone.now()
    barrier, shown, errors = threading.Barrier(2), [], []

    def rotate_in_a_thread() -> None:
        try:
            barrier.wait(timeout=10)
            shown.append(rotate(owner, timedelta(hours=1), now))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=rotate_in_a_thread) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors and len(shown) == 2
    # Whichever ran second replaced the first one's new secret, which keeps its hour: all three work.
    assert all(works(token, now + timedelta(minutes=59)) for token in [t1, *shown])
    assert owner.secrets.filter(expires_at__isnull=True).count() == 1
