"""An admin's member management in a real headless Chromium: invite a lab scientist (the
one-time link is e-mailed, never on the page, and the form is empty again), be refused a lab
scientist at a hospital, then deactivate a signed-in member, whose own browser is signed out
at its next page."""

import re

import pytest
from django.core import mail
from playwright.sync_api import expect

from consortium.models import Role, User
from tests.conftest import browser_sign_in, make_member, watch_console


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_an_admin_invites_a_member_and_deactivates_another(live_server, page, browser):
    errors: list[str] = []
    watch_console(page, errors)
    admin = make_member(Role.ADMIN, email="admin@nbtc.no", with_totp=True)
    leaving = make_member(Role.CLINICIAN, email="leaving@ous.no", with_totp=True)

    # The member who leaves is signed in, in a browser of their own.
    theirs = browser.new_context().new_page()
    browser_sign_in(theirs, live_server.url, leaving)

    browser_sign_in(page, live_server.url, admin)
    page.goto(f"{live_server.url}/members/invite/")
    page.locator('input[name="email"]').fill("new.lab@uib.no")
    page.locator('input[name="full_name"]').fill("New Lab Scientist")
    page.locator('select[name="role"]').select_option("lab_scientist")
    page.get_by_label(re.compile(r"\(OUS\)")).check()
    page.get_by_role("button", name="Invite").click()
    expect(page.locator(".errorlist")).to_contain_text("works at a screening lab")
    assert not User.objects.filter(email="new.lab@uib.no").exists()

    page.get_by_label(re.compile(r"\(OUS\)")).uncheck()
    page.get_by_label(re.compile(r"\(UIB-LAB\)")).check()
    page.get_by_role("button", name="Invite").click()
    expect(page.locator("ul.messages")).to_contain_text("new.lab@uib.no is invited")
    expect(page.locator('input[name="email"]')).to_have_value("")
    expect(page.locator('input[name="full_name"]')).to_have_value("")
    key = re.search(r"/accounts/password/reset/key/(\S+)", mail.outbox[-1].body).group(1)
    assert key not in page.content()

    page.goto(f"{live_server.url}/members/")
    row = page.locator(f"#member-{leaving.pk}")
    expect(row).to_contain_text("on")  # two-factor sign-in
    row.get_by_role("button", name="Deactivate leaving@ous.no").click()
    expect(page.locator("ul.messages")).to_contain_text("leaving@ous.no is deactivated")
    expect(page.locator(f"#member-{leaving.pk}")).to_contain_text("Reactivate")

    theirs.goto(f"{live_server.url}/account/")
    expect(theirs).to_have_url(re.compile(r"/accounts/login/"))
    assert errors == [], f"console errors: {errors}"
