"""Route demo contacts through the real distribution service, so a fresh install has something to show."""

import random

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext, ngettext

from crm.models import Contact, Source
from distribution.intake import store_contact

MESSAGES = [
    "Hello, I'd like a quote",
    "Please call me back",
    "Is delivery available?",
    "",
    "Question about my order",
]


class Command(BaseCommand):
    help = "Send N demo contacts from random customers through every source (skipped if contacts exist)."

    def add_arguments(self, parser: CommandParser) -> None:
        # A few contacts, seeded: the same calm first dashboard on every fresh install, with nobody full (a
        # demo that opened on "nobody can take contacts" would warn about what it made itself).
        parser.add_argument("--contacts", type=int, default=12)
        parser.add_argument("--force", action="store_true", help="Add contacts even if some exist already.")
        parser.add_argument("--seed", type=int, default=2026, help="Seed for reproducible demo data.")

    def handle(self, *args, contacts: int, force: bool, seed: int | None, **options) -> None:
        if Contact.objects.exists() and not force:
            self.stdout.write(
                gettext("Contacts exist already; no demo traffic added (use --force to add more).")
            )
            return
        sources = list(Source.objects.all())
        if not sources:
            raise CommandError(gettext("No sources: run `python manage.py seed_demo` first."))
        rng = random.Random(seed)
        assigned = 0
        for _ in range(contacts):
            customer = rng.randint(1, max(1, contacts // 2))
            contact = store_contact(
                source=rng.choice(sources),
                external_id=f"demo-{customer}",
                name=f"Demo customer {customer}",
                message=rng.choice(MESSAGES),
                rng=rng,
            )
            assigned += contact.operator_id is not None
        routed = ngettext(
            "Routed %(count)d demo contact: %(assigned)d assigned.",
            "Routed %(count)d demo contacts: %(assigned)d assigned.",
            contacts,
        ) % {"count": contacts, "assigned": assigned}
        self.stdout.write(self.style.SUCCESS(routed))
