"""Swagger UI at /api/v1/docs in a real browser: it renders every operation, works with an API key, and
makes no request that leaves the test server (machines may be offline; nothing comes from a CDN).

Headless Chromium (Debian's package) through playwright (tests/browser.py); skipped with the reason
when either is missing, and failed instead under CI=true. The screenshot goes to artifacts/browser/.
"""

from urllib.parse import urlsplit

import pytest

from integrations.api import api
from integrations.models import Scope
from integrations.services import create_api_key
from tests.browser import ARTIFACTS, chromium

LOCAL_HOSTS = {"127.0.0.1", "localhost"}


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_swagger_ui_renders_every_operation_offline_and_calls_the_api(live_server):
    _, secret = create_api_key(name="docs browser test", scope=Scope.READ)
    requested: list[str] = []

    with chromium() as browser:
        from playwright.sync_api import expect

        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(15_000)
        page.on("request", lambda request: requested.append(request.url))
        # Anything bound elsewhere is refused at once (and still recorded above), so an offline
        # machine cannot make the test hang, and the assertion below names it.
        page.route(
            "**/*",
            lambda route: (
                route.continue_() if urlsplit(route.request.url).hostname in LOCAL_HOSTS else route.abort()
            ),
        )

        page.goto(f"{live_server.url}/api/v1/docs")
        # Every operation of /api/v1/, the channel webhook, and the outbound event (an OpenAPI 3.1 webhook).
        schema = api.get_openapi_schema()
        operations = sum(len(methods) for part in ("paths", "webhooks") for methods in schema[part].values())
        expect(page.locator(".opblock")).to_have_count(operations)
        expect(page.locator(".information-container")).to_contain_text("Leadflow integration API")
        expect(page.locator(".opblock-summary-path", has_text="/api/contacts/")).to_be_visible()

        # Authorize with the key and call GET /api/v1/stats from the page.
        page.locator(".auth-wrapper button.authorize").click()
        api_keys = page.locator(".auth-container", has_text="ApiKeyAuth")
        api_keys.locator("input").fill(secret)
        api_keys.get_by_role("button", name="Apply credentials").click()
        expect(api_keys.get_by_role("button", name="Remove authorization")).to_be_visible()
        page.locator(".dialog-ux button.btn-done").first.click()
        stats = page.locator(".opblock", has=page.locator(".opblock-summary-path", has_text="/api/v1/stats"))
        stats.locator(".opblock-summary").click()
        stats.get_by_role("button", name="Try it out").click()
        stats.get_by_role("button", name="Execute").click()
        expect(
            stats.locator(".live-responses-table td.response-col_status:not(.col_header)")
        ).to_contain_text("200")
        expect(stats.locator(".live-responses-table")).to_contain_text('"unassigned"')
        page.screenshot(path=ARTIFACTS / "api-docs.png", full_page=True)

    assert requested, "the page made no requests at all"
    elsewhere = [url for url in requested if urlsplit(url).hostname not in LOCAL_HOSTS]
    assert elsewhere == [], f"requests left the test server: {elsewhere}"
    assert any(url.endswith("/static/ninja/swagger-ui-bundle.js") for url in requested)
    assert any(url.endswith("/api/v1/openapi.json") for url in requested)
