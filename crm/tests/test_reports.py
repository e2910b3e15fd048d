"""The reports page and its CSV files: figures on a known data set, the default days, bad days as a form
error (400 for a CSV), and the contacts' CSV streamed in constant memory."""

import csv
import io
import tracemalloc
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from crm.choices import ContactState, OfferOutcome
from crm.models import Contact, Offer
from crm.selectors import reports
from crm.tests.factories import ContactFactory, LeadFactory, OperatorFactory, SourceFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_user("sam", password="x", is_staff=True))
    return client


def csv_of(response) -> list[dict]:
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    text = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text)))


def test_the_page_and_its_csv_say_the_same_figures(staff_client):
    now = timezone.now()
    anna, phone = OperatorFactory(name="Anna"), SourceFactory(name="Phone")
    for seconds in (20, 40):
        contact = ContactFactory(operator=anna, source=phone, assigned_at=now - timedelta(hours=2))
        Offer.objects.create(
            contact=contact,
            source=phone,
            operator=anna,
            offered_at=contact.assigned_at,
            ended_at=contact.assigned_at + timedelta(seconds=seconds),
            outcome=OfferOutcome.ACCEPTED,
        )
        Contact.objects.filter(pk=contact.pk).update(
            state=ContactState.CLOSED, closed_at=contact.assigned_at + timedelta(minutes=10)
        )
    page = staff_client.get(reverse("reports"))
    assert page.status_code == 200
    text = page.text
    assert "Per operator" in text and "Anna" in text and "30 s" in text  # the median of 20 and 40 s
    assert "10 min 0 s" in text  # to close
    (row,) = csv_of(staff_client.get(reverse("report_csv", args=["operators"])))
    assert (row["name"], row["assigned"], row["accepted"], row["closed"]) == ("Anna", "2", "2", "2")
    assert (row["accept_median_s"], row["accept_p90_s"], row["close_median_s"]) == ("30.0", "38.0", "600.0")
    sources = csv_of(staff_client.get(reverse("report_csv", args=["sources"])))
    assert [(r["name"], r["offered"]) for r in sources] == [("Phone", "2")]


def test_days_out_of_the_range_count_nothing_and_bad_days_are_errors(staff_client):
    ContactFactory(operator=OperatorFactory(name="Anna"))
    long_ago = staff_client.get(reverse("reports"), {"from": "2020-01-01", "to": "2020-01-31"})
    ((anna, figures),) = long_ago.context["report"].operators
    assert anna.name == "Anna" and (figures.assigned, figures.closed, figures.accept_median) == (0, 0, None)
    bad = staff_client.get(reverse("reports"), {"from": "2026-12-31", "to": "2026-12-01"})
    assert bad.status_code == 200 and "before the “from” date" in bad.text
    assert (
        staff_client.get(reverse("report_csv", args=["contacts"]), {"from": "yesterday"}).status_code == 400
    )


def test_both_tables_are_paged_with_each_pages_figures_and_the_csv_has_every_row(staff_client):
    # At 6,000 operators and 300 sources the page was 4 MB and over a second: a page of each at a time.
    now = timezone.now()
    count = reports.REPORT_ROWS_PER_PAGE + 3
    operators = [OperatorFactory(name=f"Op {n:03}") for n in range(count)]
    sources = [SourceFactory(name=f"Source {n:03}") for n in range(count)]
    for n in (0, count - 1):  # one contact on each table's first page, one on its last
        ContactFactory(operator=operators[n], source=sources[n], assigned_at=now - timedelta(hours=1))
    url = reverse("reports")

    first = staff_client.get(url)
    report = first.context["report"]
    assert [op for op, _ in report.operators] == operators[: reports.REPORT_ROWS_PER_PAGE]
    assert [s for s, _ in report.sources] == sources[: reports.REPORT_ROWS_PER_PAGE]
    assert [o.assigned for _, o in report.operators][:2] == [1, 0]
    assert f"1–{reports.REPORT_ROWS_PER_PAGE} of {count} operators" in first.text
    assert (
        'href="?op_page=2#report-operators"' in first.text
        and 'href="?src_page=2#report-sources"' in first.text
    )

    last = staff_client.get(url, {"op_page": 2, "src_page": "2"}).context["report"]
    assert [(op, o.assigned) for op, o in last.operators] == [
        (op, int(op == operators[-1])) for op in operators[-3:]
    ]
    assert [(s, o.assigned) for s, o in last.sources] == [(s, int(s == sources[-1])) for s in sources[-3:]]
    assert staff_client.get(url, {"op_page": "x"}).context["report"].operators.number == 1

    rows = csv_of(staff_client.get(reverse("report_csv", args=["operators"])))
    assert [r["name"] for r in rows] == [op.name for op in operators]
    assert [r["assigned"] for r in rows if r["assigned"] != "0"] == ["1", "1"]
    assert len(csv_of(staff_client.get(reverse("report_csv", args=["sources"])))) == count


def test_the_reports_are_for_staff_only(client, django_user_model):
    assert client.get(reverse("reports")).status_code == 302
    client.force_login(django_user_model.objects.create_user("op", password="x"))
    assert client.get(reverse("reports")).status_code == 403
    assert client.get(reverse("report_csv", args=["contacts"])).status_code == 403


def test_the_contacts_csv_lists_the_days_contacts_oldest_first(staff_client):
    now = timezone.now()
    lead = LeadFactory(external_id="tg-1", name='Ivan, "the" customer')
    first = ContactFactory(
        lead=lead, created_at=now - timedelta(hours=1), operator=OperatorFactory(name="Anna")
    )
    second = ContactFactory(created_at=now - timedelta(minutes=5), operator=None)
    ContactFactory(created_at=now - timedelta(days=30))  # out of the default week
    rows = csv_of(staff_client.get(reverse("report_csv", args=["contacts"])))
    assert [int(r["id"]) for r in rows] == [first.pk, second.pk]
    assert (rows[0]["lead_name"], rows[0]["operator"], rows[0]["state"]) == (
        'Ivan, "the" customer',
        "Anna",
        "assigned",
    )
    assert rows[1]["unassigned_reason"] == "all_at_limit" and rows[1]["operator"] == ""
    assert rows[0]["created_at"] == first.created_at.isoformat()


def test_the_contacts_csv_streams_in_constant_memory(staff_client, settings, monkeypatch):
    """Five times the contacts, about the same peak memory: only one batch is held at a time."""
    monkeypatch.setattr(reports, "CSV_BATCH", 50)
    source, lead, now = SourceFactory(), LeadFactory(), timezone.now()

    def peak_for(count: int) -> int:
        Contact.objects.all().delete()
        # Written at once: what is measured is the export, and 6,000 saves one by one took most of the test.
        Contact.objects.bulk_create(
            ContactFactory.build(
                lead=lead, source=source, operator=None, created_at=now - timedelta(minutes=1)
            )
            for _ in range(count)
        )
        response = staff_client.get(reverse("report_csv", args=["contacts"]))
        tracemalloc.start()
        lines = sum(1 for _ in response.streaming_content)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert lines == count + 1
        return peak

    small, large = peak_for(1000), peak_for(5000)
    assert large < small * 1.5  # a fivefold export, not a fivefold memory
