"""The original products' flow, end to end over HTTP: operators, a source, weights, contacts through the
webhook, leads, statistics. Only /api/v1/ and the webhook are used; nothing is set up in the database."""

import pytest

from integrations.tests.conftest import ApiClient

# Real transactions, as in production: the drain after added capacity runs on commit.
pytestmark = pytest.mark.django_db(transaction=True)

CUSTOMERS = [f"tg-{n}" for n in range(12)]


def test_the_original_flow_over_http(writer, reader):
    # Operators, one of them switched off.
    operators = {}
    for name, limit, active in [("Anna", 5, True), ("Boris", 3, True), ("Cleo", 10, False)]:
        response = writer.post("/api/v1/operators", {"name": name, "load_limit": limit, "is_active": active})
        assert response.status_code == 201
        operators[name] = response.json()["id"]

    # A source with its token, and its weights.
    response = writer.post("/api/v1/sources", {"name": "Telegram bot"})
    assert response.status_code == 201
    source_id, token = response.json()["id"], response.json()["token"]
    weights = [
        {"operator_id": operators[name], "weight": w} for name, w in [("Anna", 3), ("Boris", 1), ("Cleo", 5)]
    ]
    assert writer.put(f"/api/v1/sources/{source_id}/weights", {"weights": weights}).status_code == 200

    # The channel posts contacts: 12 customers, 4 of them twice; 16 contacts for 8 free slots.
    channel = ApiClient(headers={"Authorization": f"Bearer {token}"})
    receipts = []
    for n, external_id in enumerate([*CUSTOMERS, *CUSTOMERS[:4]]):
        response = channel.post("/api/contacts/", {"external_id": external_id, "name": f"Customer {n}"})
        assert response.status_code == 201
        receipts.append(response.json())
    taken = [r["assigned_operator"] for r in receipts if r["assigned_operator"]]
    assert len(taken) == 8 and set(taken) <= {operators["Anna"], operators["Boris"]}
    assert {r["unassigned_reason"] for r in receipts if not r["assigned_operator"]} == {"all_at_limit"}

    # Leads: one per customer, searchable.
    leads = reader.get("/api/v1/leads", {"limit": 5}).json()
    assert leads["count"] == len(CUSTOMERS) and len(leads["items"]) == 5
    (found,) = reader.get("/api/v1/leads", {"q": "tg-11"}).json()["items"]
    lead = reader.get(f"/api/v1/leads/{found['id']}").json()
    assert lead["contact_count"] == 1 and lead["contacts"][0]["source_id"] == source_id

    # Statistics: every operator at its limit (hard), the rest waiting.
    stats = reader.get("/api/v1/stats").json()
    loads = {o["id"]: (o["load"], o["load_limit"]) for o in stats["operators"]}
    assert loads == {operators["Anna"]: (5, 5), operators["Boris"]: (3, 3), operators["Cleo"]: (0, 10)}
    assert stats["unassigned"]["count"] == 8
    (source,) = stats["sources"]
    shares = {row["operator_id"]: row for row in source["operators"]}
    assert shares[operators["Anna"]]["weight_share"] == round(100 * 3 / 9, 1)
    assert shares[operators["Anna"]]["actual_share"] == round(100 * 5 / 8, 1)
    assert source["blocked"] == "all_at_limit"

    # The contacts list agrees, and switching Cleo on routes the waiting contacts at once.
    assert reader.get("/api/v1/contacts", {"unassigned": "true"}).json()["count"] == 8
    assert writer.patch(f"/api/v1/operators/{operators['Cleo']}", {"is_active": True}).status_code == 200
    assert reader.get("/api/v1/contacts", {"operator": operators["Cleo"]}).json()["count"] == 8
    assert reader.get("/api/v1/stats").json()["unassigned"]["count"] == 0
