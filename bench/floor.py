"""The floor: the cheapest request this stack can answer that does what an intake must at the least.

It parses the same JSON body as the webhook and writes one row, so the same gunicorn, middleware, JSON
parsing, connection handling and one INSERT are paid, and nothing else. Intake throughput divided by
floor throughput (measured in the same run, on the same server) is the figure the benchmark tracks: it
cancels out most of the machine's speed and noise.
"""

import json

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from crm.models import Lead


@csrf_exempt
@require_POST
def floor(request: HttpRequest) -> JsonResponse:
    """POST /bench/floor/ {"external_id": ...}: insert one lead with that id, answer 201 with its id.

    Deliberately no validation beyond what json.loads does: this is a measuring stick, never mounted on
    a public server (see settings.BENCH_FLOOR).
    """
    data = json.loads(request.body)
    lead = Lead.objects.create(external_id=str(data["external_id"]))
    return JsonResponse({"lead_id": lead.pk}, status=201)
