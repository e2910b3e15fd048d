"""Offer expiry benchmark: 10,000 offers expiring at the same second, ended and passed on by the worker.

    python bench/bench_expiry.py [--offers 10000] [--workers 1 2] [--database-url postgres://.../leadflow_bench]

For each worker count it re-creates the database (its name must contain "bench"), makes 10 sources that
make offers with 20 operators each, offers `--offers` contacts to them with one deadline, then runs that
many worker processes (`manage.py run_worker` passes with the clock at the deadline, as distribution.worker
does) until no offer is due, and prints how long that took and what became of the offers. It then checks
what two workers must never do: end an offer twice, or re-offer a contact twice (each contact ends with
exactly one expired offer and at most one new pending one).
"""

import argparse
import multiprocessing
import os
import secrets
import sys
import time
from datetime import timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SOURCES, OPERATORS_PER_SOURCE = 10, 20


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--offers", type=int, default=10_000, help="offers expiring at once (default 10,000)")
    parser.add_argument(
        "--workers", nargs="+", type=int, default=[1, 2], help="worker processes (default 1 2)"
    )
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/leadflow_bench")
    return parser.parse_args(argv)


def setup_django(url: str) -> None:
    os.environ.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DATABASE_URL=url,
        DEBUG="false",
        SECRET_KEY=os.environ.get("SECRET_KEY") or secrets.token_urlsafe(50),
    )
    sys.path.insert(0, str(REPO))
    import django

    django.setup()


def prepare(url: str, offers: int) -> object:
    """A fresh database with `offers` contacts offered, all expiring at the returned moment."""
    from bench.bench_intake import fresh_database, insert

    fresh_database(url)
    from django.utils import timezone

    from crm.models import Contact, Lead, Offer, Operator, SourceOperatorWeight
    from crm.services import create_source

    routes = []
    for n in range(SOURCES):
        source, _token = create_source(
            name=f"Offers {n + 1}", accept_within_seconds=60, missed_offers_before_away=0
        )
        operators = Operator.objects.bulk_create(
            Operator(name=f"Expiry {n + 1}.{i}", load_limit=1_000_000) for i in range(OPERATORS_PER_SOURCE)
        )
        SourceOperatorWeight.objects.bulk_create(
            SourceOperatorWeight(source=source, operator=op, weight=1) for op in operators
        )
        routes += [(source.pk, op.pk) for op in operators]
    offered_at = timezone.now() - timedelta(seconds=60)
    deadline = offered_at + timedelta(seconds=60)
    insert(Lead, (Lead(external_id=f"expiry-{i}") for i in range(offers)))
    leads = list(Lead.objects.order_by("pk").values_list("pk", flat=True))
    insert(
        Contact,
        (
            Contact(
                lead_id=lead,
                source_id=routes[i % len(routes)][0],
                operator_id=routes[i % len(routes)][1],
                created_at=offered_at,
                assigned_at=offered_at,
                state="offered",
                offer_expires_at=deadline,
            )
            for i, lead in enumerate(leads)
        ),
    )
    contacts = Contact.objects.values_list("pk", "source_id", "operator_id")
    insert(
        Offer,
        (
            Offer(contact_id=c, source_id=s, operator_id=o, offered_at=offered_at)
            for c, s, o in contacts.iterator(chunk_size=5000)
        ),
    )
    return deadline


def work(url: str, deadline, name: str, started: multiprocessing.Event) -> None:
    """One worker process: passes at the deadline until nothing is due."""
    setup_django(url)
    from crm.models import Contact
    from distribution import worker

    started.wait()
    while Contact.objects.filter(offer_expires_at__lte=deadline).exists():
        worker.run_once(now=deadline, name=name)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    setup_django(args.database_url)
    from django.db import connection

    print(f"Leadflow offer expiry benchmark, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print(f"machine: {os.cpu_count()} cores; {offers_label(args.offers)} expiring at the same second")
    ok = True
    for count in args.workers:
        connection.close()  # the database is dropped and made again: hold no session in it
        deadline = prepare(args.database_url, args.offers)
        connection.close()
        go = multiprocessing.Event()
        processes = [
            multiprocessing.Process(target=work, args=(args.database_url, deadline, f"bench-{i}", go))
            for i in range(count)
        ]
        for process in processes:
            process.start()
        time.sleep(2)  # every process has set Django up
        started = time.monotonic()
        go.set()
        for process in processes:
            process.join()
        took = time.monotonic() - started
        ok &= report(count, took, args.offers, deadline)
    return 0 if ok else 1


def offers_label(n: int) -> str:
    return f"{n:,} offers"


def report(workers: int, took: float, offers: int, deadline) -> bool:
    from django.db.models import Count, Q

    from crm.models import Contact, Offer

    expired = Offer.objects.filter(outcome="expired").count()
    pending = Offer.objects.filter(outcome="pending").count()
    waiting = Contact.objects.filter(state="waiting").count()
    per_contact = Contact.objects.annotate(
        expired=Count("offers", filter=Q(offers__outcome="expired")),
        pending=Count("offers", filter=Q(offers__outcome="pending")),
    )
    doubled = per_contact.filter(Q(expired__gt=1) | Q(pending__gt=1)).count()
    still_due = Contact.objects.filter(offer_expires_at__lte=deadline).count()
    good = expired == offers and pending + waiting == offers and doubled == 0 and still_due == 0
    print(
        f"{workers} worker{'s' if workers > 1 else ''}: {took:5.1f} s for {offers:,} expired offers "
        f"({offers / took:,.0f}/s): {pending:,} offered to the next operator, {waiting:,} waiting; "
        f"contacts with an offer ended twice or two pending: {doubled}; still due: {still_due}"
        + ("" if good else "  FAILED")
    )
    return good


if __name__ == "__main__":
    sys.exit(main())
