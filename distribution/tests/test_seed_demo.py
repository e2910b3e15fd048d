import re

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from crm import services
from crm.models import Operator, Source, SourceOperatorWeight
from crm.secrets import token_digest
from distribution import capacity
from distribution.routes import route_for_token_digest

pytestmark = pytest.mark.django_db


def counts() -> tuple[int, ...]:
    return (
        Operator.objects.count(),
        Source.objects.count(),
        SourceOperatorWeight.objects.count(),
        get_user_model().objects.count(),
        Operator.history.count(),
        Source.history.count(),
        SourceOperatorWeight.history.count(),
    )


def printed_tokens(out: str) -> dict[str, str]:
    return dict(re.findall(r"Source #\d+ '(.+)' token: (\S+)", out))


def works(token: str) -> bool:
    return route_for_token_digest(token_digest(token)) is not None


def test_seed_demo_is_made_once_and_prints_working_tokens_kept_in_the_tokens_file(capsys, tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("SECRET_KEY=keep-me\n")
    call_command("seed_demo", admin_password="first-pass-123", tokens_file=env_file)
    first = counts()
    tokens = printed_tokens(capsys.readouterr().out)
    call_command("seed_demo", admin_password="first-pass-123", tokens_file=env_file)
    out = capsys.readouterr().out

    assert counts() == first  # nothing made twice, and no change history written by a restart
    assert first[0] >= 3 and first[1] == 2 and first[3] == 1
    assert printed_tokens(out) == tokens and all(works(token) for token in tokens.values())
    assert env_file.read_text().startswith("SECRET_KEY=keep-me\n")
    assert "Authorization: Bearer" in out and "/api/contacts/" in out
    admin = get_user_model().objects.get()
    assert admin.is_superuser and admin.check_password("first-pass-123")
    assert "admin / first-pass-123" in out


def test_what_a_supervisor_changed_is_never_overwritten(capsys, tmp_path):
    env_file = tmp_path / ".env"
    call_command("seed_demo", admin_password="first-pass-123", tokens_file=env_file)
    capsys.readouterr()
    bot = Source.objects.get(name="Telegram bot")
    changed = services.regenerate_token(source=bot)
    anna = Operator.objects.get(name="Anna")
    capacity.update_operator(operator=anna, load_limit=3)
    weight = SourceOperatorWeight.objects.get(source=bot, operator=anna)
    capacity.set_weights(source=bot, weights={weight.operator_id: 9})
    admin = get_user_model().objects.get()
    admin.set_password("changed-by-the-admin")
    admin.save()
    before = counts()

    call_command("seed_demo", admin_password="first-pass-123", tokens_file=env_file)
    out = capsys.readouterr().out

    assert counts() == before
    assert works(changed) and printed_tokens(out)["Telegram bot"] == "(not"
    assert "Bearer $SOURCE_TOKEN" in out  # the curl cannot know the new token, and says where it goes
    assert Operator.objects.get(name="Anna").load_limit == 3
    assert dict(bot.weights.values_list("operator_id", "weight")) == {anna.pk: 9}
    assert get_user_model().objects.get().check_password("changed-by-the-admin")
    assert "admin / (unchanged)" in out and "first-pass-123" not in out


def test_without_a_tokens_file_a_rerun_replaces_no_token(capsys):
    call_command("seed_demo", admin_password="first-pass-123")
    first = printed_tokens(capsys.readouterr().out)
    call_command("seed_demo")
    assert all(works(token) for token in first.values())
    assert set(printed_tokens(capsys.readouterr().out).values()) == {"(not"}
