"""API clients for the integration API's tests: one per kind of key, sending it as a Bearer token."""

import pytest
from django.test import Client

from integrations.models import ApiKey, Scope
from integrations.services import create_api_key


class ApiClient(Client):
    """A test client that sends JSON bodies by default (every /api/v1/ body is JSON)."""

    def post(self, path, data=None, content_type="application/json", **extra):
        return super().post(path, data, content_type=content_type, **extra)

    def put(self, path, data=None, content_type="application/json", **extra):
        return super().put(path, data, content_type=content_type, **extra)

    def patch(self, path, data=None, content_type="application/json", **extra):
        return super().patch(path, data, content_type=content_type, **extra)


def client_with(secret: str) -> ApiClient:
    return ApiClient(headers={"Authorization": f"Bearer {secret}"})


@pytest.fixture
def write_key() -> tuple[ApiKey, str]:
    return create_api_key(name="provisioning script", scope=Scope.WRITE)


@pytest.fixture
def read_key() -> tuple[ApiKey, str]:
    return create_api_key(name="nightly BI export", scope=Scope.READ)


@pytest.fixture
def writer(write_key) -> ApiClient:
    return client_with(write_key[1])


@pytest.fixture
def reader(read_key) -> ApiClient:
    return client_with(read_key[1])
