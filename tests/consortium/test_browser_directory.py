"""A coordinator's journey through the directory in a real headless Chromium: sign in with a
TOTP code, find a group with the live (htmx) search, edit it and see the change recorded.
The page must log no console errors: a Content Security Policy violation logs one, so a clean
console shows that htmx and our CSS load under the policy."""

import re

import pytest
from playwright.sync_api import expect

from consortium.models import NetworkGroup
from tests.conftest import browser_sign_in, watch_console

# Chromium is launched with the overrides in tests/conftest.py (browser_type_launch_args).


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_coordinator_finds_and_edits_a_group(live_server, page, coordinator, directory):
    errors: list[str] = []
    watch_console(page, errors)
    group = NetworkGroup.objects.get(name="Nordic Lymphoma Group")
    new_focus = "Prospective trials in aggressive B-cell lymphoma (browser test)."

    browser_sign_in(page, live_server.url, coordinator)  # password, then the TOTP code

    # Live search: typing fires an htmx request that swaps #results in place.
    page.goto(f"{live_server.url}/directory/")
    with page.expect_response(
        lambda r: "q=lymphoma" in r.url and r.request.headers.get("hx-request") == "true"
    ) as search:
        page.locator('input[name="q"]').press_sequentially("lymphoma", delay=20)
    assert search.value.status == 200
    results = page.locator("#results")
    expect(results).to_contain_text("Nordic Lymphoma Group")
    expect(page).to_have_url(re.compile(r"[?&]q=lymphoma"))  # hx-push-url

    # Open the group, edit its focus, save.
    results.get_by_role("link", name=re.compile("Nordic Lymphoma Group")).click()
    expect(page).to_have_url(f"{live_server.url}/directory/{group.slug}/")
    page.get_by_role("link", name="Edit", exact=True).click()
    expect(page).to_have_url(f"{live_server.url}/directory/{group.slug}/edit/")
    page.locator('textarea[name="focus"]').fill(new_focus)
    page.get_by_role("button", name="Save").click()

    # Back on the detail page: the message, the new focus and an update in the history.
    expect(page).to_have_url(f"{live_server.url}/directory/{group.slug}/")
    expect(page.locator("ul.messages")).to_contain_text("Nordic Lymphoma Group saved.")
    expect(page.locator("dl.facts")).to_contain_text(new_focus)
    expect(page.locator("table.history tbody")).to_contain_text("Network group changed")

    assert errors == [], f"console errors (CSP violations among them?): {errors}"
    updated = NetworkGroup.objects.get(pk=group.pk)
    assert updated.focus == new_focus
    assert updated.version > group.version
