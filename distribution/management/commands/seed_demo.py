"""Demo data for a local run: operators, two sources with weights, an admin user.

Made once: a later run creates only what is missing and never changes what exists (a supervisor may have
changed a limit, a weight, a token or the admin's password since), so it writes no change history either.
"""

import re
import secrets
import textwrap
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext, ngettext

from crm import services
from crm.models import Operator, Source
from crm.secrets import token_digest, valid_at
from distribution import capacity, webhook
from distribution.webhook import example_request

OPERATORS = {"Anna": 20, "Boris": 20, "Vera": 10, "Gleb": 5}
SOURCES = {
    "Telegram bot": {"Anna": 3, "Boris": 2, "Vera": 1},
    "Site form": {"Boris": 1, "Vera": 2, "Gleb": 2},
}
ADMIN_USERNAME = "admin"


class Command(BaseCommand):
    help = "Create demo operators, sources, weights and a local admin user (idempotent); print the tokens."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--admin-password",
            help="The password a new demo admin gets (default: a random one). An existing admin keeps "
            "theirs; it is printed only while it is still this one.",
        )
        parser.add_argument(
            "--tokens-file",
            type=Path,
            help="Keep new demo sources' tokens in this file (bin/run uses the local .env, ignored by git): only "
            "digests are stored in the database, so this is how a restart can print a working curl again.",
        )
        parser.add_argument(
            "--base-url",
            default="http://127.0.0.1:8000",
            help="Where the app runs, for the printed curl example.",
        )

    @transaction.atomic
    def handle(
        self, *args, admin_password: str | None, base_url: str, tokens_file: Path | None, **options
    ) -> None:
        operators = {
            name: Operator.objects.get_or_create(name=name, defaults={"load_limit": limit})[0]
            for name, limit in OPERATORS.items()
        }
        sources, made = [], {}
        for source_name, weights in SOURCES.items():
            source = Source.objects.filter(name=source_name).first()
            if source is None:
                source, made[source_name] = services.create_source(name=source_name)
                capacity.set_weights(
                    source=source, weights={operators[name].pk: weight for name, weight in weights.items()}
                )
            sources.append(source)

        tokens = self._tokens(sources, made, tokens_file)
        password = self._ensure_admin(admin_password)

        counts = {
            "operators": ngettext("%(count)d operator", "%(count)d operators", len(operators))
            % {"count": len(operators)},
            "sources": ngettext("%(count)d source", "%(count)d sources", len(sources))
            % {"count": len(sources)},
        }
        self.stdout.write(
            self.style.SUCCESS(gettext("Demo data ready: %(operators)s, %(sources)s.") % counts)
        )
        login = {"username": ADMIN_USERNAME, "password": password}
        self.stdout.write(gettext("Admin login: %(username)s / %(password)s") % login)
        for source in sources:
            token = tokens.get(source.pk) or gettext(
                "(not known here: only its digest is stored, and it was changed or not kept)"
            )
            self.stdout.write(
                gettext("Source #%(id)s %(name)s token: %(token)s")
                % {"id": source.pk, "name": repr(source.name), "token": token}
            )
        token = tokens.get(sources[0].pk) or "$SOURCE_TOKEN"
        curl = example_request(base_url.rstrip("/") + webhook.PATH, token)
        self.stdout.write(gettext("First webhook call:") + "\n" + textwrap.indent(curl, "  "))

    def _tokens(self, sources: list[Source], made: dict[str, str], path: Path | None) -> dict[int, str]:
        """Each demo source's plain token while it still works: the one just made, or the one kept in `path`
        (and written back there). A token changed in the admin since is left alone and not printed."""
        text = path.read_text() if path and path.is_file() else ""
        kept = {int(pk): token for pk, token in re.findall(r"^DEMO_SOURCE_TOKEN_(\d+)=(\S+)$", text, re.M)}
        now, tokens = timezone.now(), {}
        for source in sources:
            token = made.get(source.name) or kept.get(source.pk, "")
            if token and source.secrets.filter(digest=token_digest(token)).filter(valid_at(now)).exists():
                tokens[source.pk] = token
        if path:
            lines = [line for line in text.splitlines() if not line.startswith("DEMO_SOURCE_TOKEN_")]
            lines += [f"DEMO_SOURCE_TOKEN_{pk}={token}" for pk, token in tokens.items()]
            path.write_text("\n".join(lines) + "\n")
        return tokens

    def _ensure_admin(self, password: str | None) -> str:
        """The demo admin, made once; its password as printed (only while it is still the one given)."""
        user, created = get_user_model().objects.get_or_create(
            username=ADMIN_USERNAME, defaults={"is_staff": True, "is_superuser": True}
        )
        if created:
            password = password or secrets.token_urlsafe(12)
            user.set_password(password)
            user.save(update_fields=["password"])
            return password
        if password and user.check_password(password):
            return password
        return gettext("(unchanged)")
