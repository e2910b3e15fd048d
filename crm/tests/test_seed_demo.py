import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from crm.models import Operator, Source, SourceOperatorWeight

pytestmark = pytest.mark.django_db


def counts() -> tuple[int, int, int, int]:
    return (
        Operator.objects.count(),
        Source.objects.count(),
        SourceOperatorWeight.objects.count(),
        get_user_model().objects.count(),
    )


def test_seed_demo_is_idempotent_and_prints_tokens_and_login(capsys):
    call_command("seed_demo", admin_password="first-pass-123")
    first = counts()
    tokens = dict(Source.objects.values_list("name", "token"))
    call_command("seed_demo")

    assert counts() == first
    assert first[0] >= 3 and first[1] == 2 and first[3] == 1
    assert dict(Source.objects.values_list("name", "token")) == tokens
    out = capsys.readouterr().out
    assert all(token in out for token in tokens.values())
    assert "admin / first-pass-123" in out
    assert "Authorization: Bearer" in out and "/api/contacts/" in out
    admin = get_user_model().objects.get()
    assert admin.is_superuser and admin.check_password("first-pass-123")


def test_seed_demo_resets_the_admin_password_only_when_asked():
    call_command("seed_demo", admin_password="first-pass-123")
    call_command("seed_demo")
    assert get_user_model().objects.get().check_password("first-pass-123")
    call_command("seed_demo", admin_password="second-pass-456")
    assert get_user_model().objects.get().check_password("second-pass-456")
