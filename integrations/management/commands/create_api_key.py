"""python manage.py create_api_key NAME --scope read|write: for scripts and provisioning.

The key alone goes to stdout (its last and only line), so `KEY=$(python manage.py create_api_key ...)`
works; the description goes to stderr.
"""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext

from integrations.models import Scope
from integrations.services import create_api_key


class Command(BaseCommand):
    help = "Create an API key for the integration API (/api/v1/) and print it; it is shown only this once."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="Who uses the key, e.g. 'telephony' or 'nightly BI export'.")
        parser.add_argument("--scope", choices=Scope.values, default=Scope.READ, help="Default: read.")

    def handle(self, *args, name: str, scope: str, **options) -> None:
        try:
            api_key, secret = create_api_key(name=name, scope=scope)
        except ValidationError as exc:
            raise CommandError(
                "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in exc.message_dict.items())
            ) from exc
        self.stderr.write(
            gettext("Created API key #%(id)s “%(name)s” (%(scope)s); copy it now, only its digest is stored.")
            % {"id": api_key.pk, "name": api_key.name, "scope": api_key.scope}
        )
        self.stdout.write(secret)
