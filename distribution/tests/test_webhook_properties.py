"""Property-based: whatever arrives, the webhook answers 201 or a 4xx JSON error, never a 500, and a 4xx
leaves nothing behind."""

import json
from urllib.parse import urlencode

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crm.models import Contact, Lead
from crm.tests.factories import OperatorFactory, SourceFactory, WeightFactory

pytestmark = pytest.mark.django_db

# Characters that databases and encoders choke on, mixed into ordinary text often enough to matter.
TRICKY = ["\x00", "\ud800", "\udfff", "\x1f", "\x7f", "\u202e", "\u200d", "\n", "😀", "Ж", " "]
texts = st.lists(st.sampled_from(TRICKY) | st.characters(), max_size=30).map("".join) | st.text()
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | texts,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
contact_like = st.fixed_dictionaries(
    {},
    optional={
        "external_id": json_values | texts,
        "source_id": json_values | st.integers(min_value=-2, max_value=3).map(str),
        "name": json_values | texts,
        "message": json_values | texts,
    },
)
bodies = st.one_of(
    contact_like.map(lambda d: json.dumps(d).encode()),
    json_values.map(lambda v: json.dumps(v).encode()),
    contact_like.map(lambda d: json.dumps(d, ensure_ascii=False).encode("utf-8", "surrogatepass")),
    st.binary(max_size=300),
    contact_like.map(lambda d: urlencode({k: str(v) for k, v in d.items()}, errors="surrogatepass").encode()),
)
content_types = st.sampled_from(
    ["application/json", "application/x-www-form-urlencoded", "application/json; charset=utf-8", "text/plain"]
)


@pytest.fixture(scope="module")
def client() -> Client:
    return Client()


@settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(body=bodies, content_type=content_types)
def test_any_body_gets_201_or_a_json_4xx(client, body, content_type):
    source = SourceFactory()
    WeightFactory(source=source, operator=OperatorFactory())
    before = (Contact.objects.count(), Lead.objects.count())

    response = client.generic(
        "POST",
        "/api/contacts/",
        body,
        content_type=content_type,
        CONTENT_TYPE=content_type,
        HTTP_AUTHORIZATION=f"Bearer {source.token}",
    )

    assert response["Content-Type"] == "application/json"
    payload = response.json()
    if response.status_code == 201:
        assert Contact.objects.count() == before[0] + 1
        assert Contact.objects.filter(pk=payload["contact_id"], source=source).exists()
    else:
        assert 400 <= response.status_code < 500, (response.status_code, payload)
        assert isinstance(payload["errors"], dict) and payload["errors"]
        assert (Contact.objects.count(), Lead.objects.count()) == before
