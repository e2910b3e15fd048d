import json

from django.http import HttpRequest, JsonResponse
from django.urls import path

from bench.floor.models import Contact


def contacts(request: HttpRequest) -> JsonResponse:
    """POST {"external_id", "name", "message"}: insert one row, answer 201. GET: 200, to wait on at start."""
    if request.method != "POST":
        return JsonResponse({"ready": True})
    data = json.loads(request.body)
    contact = Contact.objects.create(
        external_id=str(data["external_id"]), name=data.get("name", ""), message=data.get("message", "")
    )
    return JsonResponse({"contact_id": contact.pk}, status=201)


# The webhook's path, so one wrk script drives both.
urlpatterns = [path("api/contacts/", contacts)]
