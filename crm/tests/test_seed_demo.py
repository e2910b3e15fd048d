import re

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from crm.models import Operator, Source, SourceOperatorWeight, token_digest

pytestmark = pytest.mark.django_db


def counts() -> tuple[int, int, int, int]:
    return (
        Operator.objects.count(),
        Source.objects.count(),
        SourceOperatorWeight.objects.count(),
        get_user_model().objects.count(),
    )


def printed_tokens(out: str) -> dict[str, str]:
    return dict(re.findall(r"Source #\d+ '(.+)' token: (\S+)", out))


def test_seed_demo_is_idempotent_and_prints_working_tokens_kept_in_the_tokens_file(capsys, tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("SECRET_KEY=keep-me\n")
    call_command("seed_demo", admin_password="first-pass-123", tokens_file=env_file)
    first = counts()
    tokens = printed_tokens(capsys.readouterr().out)
    call_command("seed_demo", tokens_file=env_file)
    out = capsys.readouterr().out

    assert counts() == first
    assert first[0] >= 3 and first[1] == 2 and first[3] == 1
    assert printed_tokens(out) == tokens  # a restart prints the same, still working, tokens
    digests = dict(Source.objects.values_list("name", "token_digest"))
    assert {name: token_digest(token) for name, token in tokens.items()} == digests
    assert env_file.read_text().startswith("SECRET_KEY=keep-me\n")
    assert "Authorization: Bearer" in out and "/api/contacts/" in out
    admin = get_user_model().objects.get()
    assert admin.is_superuser and admin.check_password("first-pass-123")


def test_without_a_tokens_file_a_rerun_prints_new_working_tokens(capsys):
    call_command("seed_demo", admin_password="first-pass-123")
    first = printed_tokens(capsys.readouterr().out)
    call_command("seed_demo")
    second = printed_tokens(capsys.readouterr().out)
    assert first.keys() == second.keys() and set(first.values()).isdisjoint(second.values())
    assert dict(Source.objects.values_list("name", "token_digest")) == {
        n: token_digest(t) for n, t in second.items()
    }


def test_seed_demo_resets_the_admin_password_only_when_asked():
    call_command("seed_demo", admin_password="first-pass-123")
    call_command("seed_demo")
    assert get_user_model().objects.get().check_password("first-pass-123")
    call_command("seed_demo", admin_password="second-pass-456")
    assert get_user_model().objects.get().check_password("second-pass-456")
