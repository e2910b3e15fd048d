"""Authorization: Bearer <API key> for /api/v1/. Unknown or revoked key: 401; a read-only key writing: 403."""

from django.http import HttpRequest
from django.utils.translation import gettext
from ninja.errors import AuthorizationError
from ninja.security import HttpBearer

from distribution.throttling import record_failure
from integrations import services
from integrations.models import ApiKey
from throttle.services import client_ip


class ApiKeyAuth(HttpBearer):
    """An API key from the admin or `create_api_key`; `write=True` also requires the write scope.

    Both instances share the class name, so the OpenAPI schema has one security scheme for them.
    """

    def __init__(self, *, write: bool = False) -> None:
        super().__init__()
        self.write = write

    def authenticate(self, request: HttpRequest, token: str) -> ApiKey | None:
        api_key = services.authenticate(token)
        if api_key is None:
            # Counted with the webhook's failures; over the limit it raises TooManyFailures (429).
            record_failure(client_ip(request))
        if api_key is not None and self.write and not api_key.can_write:
            # Raised, not returned: None would mean "unknown key" (401), and this one is known.
            raise AuthorizationError(
                message=gettext("This API key is read-only; this needs a key with the write scope.")
            )
        return api_key


read_key = ApiKeyAuth()
write_key = ApiKeyAuth(write=True)
