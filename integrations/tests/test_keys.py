"""API keys: stored as digests, shown once (admin, command), revoked not deleted; Bearer authentication."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from crm.models import Operator
from crm.secrets import token_digest
from crm.tests.factories import ContactFactory, OperatorFactory, SourceFactory, page_form
from integrations import services
from integrations.models import ApiKey, Scope
from integrations.tests.conftest import ApiClient, client_with

pytestmark = pytest.mark.django_db


def test_only_a_digest_and_a_prefix_of_the_key_are_stored():
    api_key, secret = services.create_api_key(name="telephony", scope=Scope.WRITE)
    stored = ApiKey.objects.values().get(pk=api_key.pk)
    (kept,) = api_key.secrets.values()
    assert len(secret) >= 40
    assert kept["digest"] == token_digest(secret) and stored["key_prefix"] == kept["prefix"] == secret[:8]
    assert secret not in str([*stored.values(), *kept.values()])
    assert services.authenticate(secret) == api_key


def test_two_active_keys_cannot_share_a_name_but_a_revoked_ones_name_is_free():
    first, _ = services.create_api_key(name="telephony")
    with pytest.raises(ValidationError) as refused:
        services.create_api_key(name="telephony")
    assert list(refused.value.message_dict) == ["name"]
    services.revoke_api_keys(api_keys=ApiKey.objects.filter(pk=first.pk))
    assert services.create_api_key(name="telephony")[0].pk != first.pk


def test_create_api_key_command_prints_only_the_key_on_its_last_line():
    out, err = StringIO(), StringIO()
    call_command("create_api_key", "nightly BI", "--scope", "write", stdout=out, stderr=err)
    secret = out.getvalue().splitlines()[-1]
    assert out.getvalue() == f"{secret}\n"
    api_key = services.authenticate(secret)
    assert api_key.name == "nightly BI" and api_key.scope == Scope.WRITE and api_key.created_by is None
    assert "nightly BI" in err.getvalue() and secret not in err.getvalue()


def test_create_api_key_command_defaults_to_read_and_refuses_bad_input():
    out = StringIO()
    call_command("create_api_key", "export", stdout=out, stderr=StringIO())
    assert services.authenticate(out.getvalue().strip()).scope == Scope.READ
    with pytest.raises(CommandError, match="name"):
        call_command("create_api_key", "", stdout=StringIO(), stderr=StringIO())
    with pytest.raises(CommandError, match="scope"):
        call_command("create_api_key", "x", "--scope", "admin", stdout=StringIO(), stderr=StringIO())
    assert ApiKey.objects.count() == 1


def test_admin_creates_a_key_and_shows_it_once(admin_client, admin_user):
    response = admin_client.post(
        reverse("admin:integrations_apikey_add"), {"name": "telephony", "scope": "write"}
    )
    assert response.status_code == 302
    api_key = ApiKey.objects.get()
    shown = admin_client.get(response["Location"])  # shown on the page after saving …
    secret = shown.context["shown"]["secret"]
    assert "shown only this once" in shown.text and "no-store" in shown["Cache-Control"]
    assert services.authenticate(secret) == api_key
    assert api_key.created_by == admin_user and api_key.scope == Scope.WRITE
    # … and on no later page, a reload of that one included.
    assert admin_client.get(response["Location"]).status_code == 410
    for url in [
        reverse("admin:integrations_apikey_changelist"),
        reverse("admin:integrations_apikey_change", args=[api_key.pk]),
    ]:
        page = admin_client.get(url)
        assert page.status_code == 200 and secret not in page.text and api_key.key_prefix in page.text
    assert client_with(secret).post("/api/v1/operators", {"name": "Anna"}).status_code == 201


def test_admin_revokes_keys_and_never_deletes_them(admin_client, write_key):
    api_key, secret = write_key
    url = reverse("admin:integrations_apikey_changelist")
    admin_client.post(url, {"action": "revoke", "_selected_action": [api_key.pk]})
    api_key.refresh_from_db()
    assert api_key.is_revoked
    assert client_with(secret).get("/api/v1/operators").status_code == 401
    assert admin_client.get(reverse("admin:integrations_apikey_delete", args=[api_key.pk])).status_code == 403
    assert "delete_selected" not in admin_client.get(url).text
    assert api_key.key_prefix in admin_client.get(url, {"revoked_at__isempty": "0"}).text
    assert api_key.key_prefix not in admin_client.get(url, {"revoked_at__isempty": "1"}).text


# --- Authentication ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [None, "Bearer", "Bearer ", "Bearer not-a-key", "Basic dXNlcjpwYXNz", "Token abc"],
    ids=["none", "empty", "blank", "unknown", "basic", "other-scheme"],
)
def test_requests_without_a_valid_key_get_401_in_the_error_shape(header):
    client = ApiClient(headers={"Authorization": header} if header else {})
    for method, path in [
        ("get", "/api/v1/operators"),
        ("get", "/api/v1/stats"),
        ("post", "/api/v1/operators"),
    ]:
        response = getattr(client, method)(path, {"name": "x"} if method == "post" else None)
        assert response.status_code == 401
        assert list(response.json()) == ["errors"] and "authorization" in response.json()["errors"]
        assert response["WWW-Authenticate"] == 'Bearer realm="leadflow"'
    assert not Operator.objects.exists()


def test_a_revoked_key_gets_401_from_the_moment_it_is_revoked(write_key, writer):
    assert writer.get("/api/v1/operators").status_code == 200
    services.revoke_api_keys(api_keys=ApiKey.objects.filter(pk=write_key[0].pk))
    assert writer.get("/api/v1/operators").status_code == 401
    assert writer.post("/api/v1/operators", {"name": "Anna"}).status_code == 401


def test_a_read_key_reads_but_every_write_gets_403_and_changes_nothing(reader):
    operator, source, contact = OperatorFactory(name="Anna"), SourceFactory(), ContactFactory(operator=None)
    for path in [
        "/api/v1/operators",
        f"/api/v1/operators/{operator.pk}",
        "/api/v1/sources",
        "/api/v1/leads",
        f"/api/v1/contacts/{contact.pk}",
        "/api/v1/stats",
    ]:
        assert reader.get(path).status_code == 200, path
    writes = [
        reader.post("/api/v1/operators", {"name": "Boris"}),
        reader.patch(f"/api/v1/operators/{operator.pk}", {"is_active": False}),
        reader.post("/api/v1/sources", {"name": "Bot"}),
        reader.put(
            f"/api/v1/sources/{source.pk}/weights", {"weights": [{"operator_id": operator.pk, "weight": 1}]}
        ),
        reader.post(f"/api/v1/contacts/{contact.pk}/assign", {"operator_id": operator.pk}),
        # Refused before the body is even read.
        reader.post("/api/v1/operators", "{not json"),
    ]
    for response in writes:
        assert response.status_code == 403
        assert response.json()["errors"]["authorization"] == [
            "This API key is read-only; this needs a key with the write scope."
        ]
    operator.refresh_from_db()
    contact.refresh_from_db()
    assert operator.is_active and Operator.objects.count() == 1 and not source.weights.exists()
    assert contact.operator_id is None


def test_last_used_is_stamped_at_most_once_a_minute(read_key, django_assert_num_queries):
    api_key, secret = read_key
    now = timezone.now()
    with django_assert_num_queries(2):  # the lookup, and the stamp
        services.authenticate(secret, now=now)
    api_key.refresh_from_db()
    assert api_key.last_used_at == now
    with django_assert_num_queries(1):  # a busy integration costs one indexed lookup per request
        services.authenticate(secret, now=now + timedelta(seconds=59))
    api_key.refresh_from_db()
    assert api_key.last_used_at == now
    services.authenticate(secret, now=now + timedelta(minutes=1))
    api_key.refresh_from_db()
    assert api_key.last_used_at == now + timedelta(minutes=1)


def test_the_api_stamps_last_used(reader, read_key):
    reader.get("/api/v1/stats")
    read_key[0].refresh_from_db()
    assert read_key[0].last_used_at is not None


def test_docs_and_schema_need_no_key():
    client = ApiClient()
    assert client.get("/api/v1/openapi.json").status_code == 200
    assert client.get("/api/v1/docs").status_code == 200


def test_the_api_takes_no_session_cookie_instead_of_a_key(admin_client):
    # Staff sessions are for the pages; the API is for systems with keys (and so needs no CSRF token).
    assert admin_client.get("/api/v1/operators").status_code == 401


def test_api_writes_need_no_csrf_token(write_key):
    client = ApiClient(enforce_csrf_checks=True, headers={"Authorization": f"Bearer {write_key[1]}"})
    assert client.post("/api/v1/operators", {"name": "Anna"}).status_code == 201


def test_repeated_unknown_keys_get_429_and_a_valid_key_is_untouched(settings, reader):
    settings.API_AUTH_FAILURE_LIMIT = 2
    guesser = client_with("not-a-key")
    statuses = [guesser.get("/api/v1/operators").status_code for _ in range(4)]
    assert statuses == [401, 401, 429, 429]
    response = guesser.get("/api/v1/operators")
    assert int(response["Retry-After"]) > 0 and "authorization" in response.json()["errors"]
    assert reader.get("/api/v1/operators").status_code == 200  # a valid key is never throttled


def test_a_rotated_key_keeps_working_for_its_grace_period_then_401(write_key, writer):
    from datetime import timedelta

    from django.utils import timezone

    new, secret = services.rotate_api_key(api_key=write_key[0], grace=timedelta(hours=1))
    assert writer.get("/api/v1/operators").status_code == 200  # the old key, within its grace
    assert client_with(secret).get("/api/v1/operators").status_code == 200
    new.secrets.filter(expires_at__isnull=False).update(expires_at=timezone.now())
    assert writer.get("/api/v1/operators").status_code == 401
    assert client_with(secret).get("/api/v1/operators").status_code == 200
    assert new.pk == write_key[0].pk  # the same key, with a new secret


def test_admin_rotation_shows_the_new_key_once(admin_client, write_key):
    from django.urls import reverse

    api_key, old = write_key
    done = admin_client.post(reverse("admin:integrations_apikey_rotate", args=[api_key.pk]), {"grace": "24"})
    shown = admin_client.get(done["Location"])
    new = shown.context["shown"]["secret"]
    assert "keeps working until" in shown.text and ApiKey.objects.count() == 1
    assert client_with(old).get("/api/v1/operators").status_code == 200
    assert client_with(new).get("/api/v1/operators").status_code == 200
    assert admin_client.get(done["Location"]).status_code == 410


def test_the_admin_refuses_a_second_active_key_with_the_same_name(admin_client, write_key):
    from django.urls import reverse

    response = admin_client.post(
        reverse("admin:integrations_apikey_add"), {"name": write_key[0].name, "scope": "read"}
    )
    assert response.status_code == 200 and "An active API key with this name exists already." in response.text
    assert ApiKey.objects.count() == 1


def test_a_key_page_opened_before_a_revocation_and_a_narrower_scope_undoes_neither(admin_client, write_key):
    """Mutants: changes told against the key now; the whole key as the page showed it saved."""
    api_key, secret = write_key
    url = reverse("admin:integrations_apikey_change", args=[api_key.pk])
    form = page_form(admin_client.get(url).text)
    form["name"] = ["provisioning (old)"]
    # Meanwhile another supervisor narrows the key to reading, then revokes it.
    ApiKey.objects.filter(pk=api_key.pk).update(scope=Scope.READ)
    services.revoke_api_keys(api_keys=ApiKey.objects.filter(pk=api_key.pk))
    assert admin_client.post(url, form).status_code == 302
    api_key.refresh_from_db()
    assert (api_key.name, api_key.scope, api_key.is_revoked) == ("provisioning (old)", Scope.READ, True)
    assert client_with(secret).get("/api/v1/operators").status_code == 401
