"""What every staff page's header shows: how many contacts wait for an operator ("Queue (12)")."""

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from crm.models import Contact
from crm.selectors import operator_of


def queue(request: HttpRequest) -> dict:
    """`queue_count`, counted only if a template shows it (the staff header, for staff users): one
    index-only count over the partial index of waiting contacts, never on the admin's pages or an
    anonymous one. The queue page passes its own paginator's count instead, which wins over this."""
    return {"queue_count": SimpleLazyObject(lambda: Contact.objects.unassigned().count())}


def my_operator(request: HttpRequest) -> dict:
    """`my_operator`, the signed-in user's operator or None, looked up only if a template asks (the header
    does for signed-in users: one query by the unique user column). My work's pages pass their own."""
    return {"my_operator": SimpleLazyObject(lambda: operator_of(request.user))}
