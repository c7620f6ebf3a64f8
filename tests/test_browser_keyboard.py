"""What keyboard and screen-reader users rely on, in headless Chromium: the skip link is the
first Tab stop and moves the focus to the content; a failed submit moves the focus to the
form's error summary (role=alert), whose links move it to their field, on the shared form
template, a hand-written form and allauth's sign-in alike; the patient page's links say
what they edit; the lab dashboard and a running analysis update their changing part without
reloading the page (htmx polling)."""

import re

import pytest
from playwright.sync_api import expect

from screening import services as screening_services
from screening.models import AnalysisRun, State
from tests.conftest import browser_sign_in, watch_console
from tests.registry.factories import complete_episode, make_patient
from tests.screening.factories import bring_to, make_world, upload_two_plates

FOCUSED_SUMMARY = "() => document.activeElement.matches('.error-summary[role=alert]')"


def focused(page) -> str:
    return page.evaluate(
        "() => { const e = document.activeElement; return e.id || e.className || e.tagName; }"
    )


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_skip_link_and_the_error_summary_take_the_focus(live_server, browser):
    base = live_server.url
    errors: list[str] = []
    world = make_world(with_totp=True)
    page = watch_console(browser.new_context().new_page(), errors)

    # allauth's sign-in: a wrong password puts the focus on the summary that says so.
    page.goto(f"{base}/accounts/login/")
    page.locator('input[name="login"]').fill(world.clinician.email)
    page.locator('input[name="password"]').fill("not the password")
    page.locator('form button[type="submit"]').first.click()
    summary = page.locator(".error-summary")
    expect(summary).to_contain_text("There is a problem")
    assert page.evaluate(FOCUSED_SUMMARY), focused(page)

    browser_sign_in(page, base, world.clinician)

    # The skip link is the first Tab stop, and it moves the focus past the navigation.
    page.goto(f"{base}/registry/patients/new/")
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to main content")
    expect(skip).to_be_focused()
    expect(skip).to_be_visible()  # shown while it has the focus
    page.keyboard.press("Enter")
    assert focused(page) == "main"
    page.keyboard.press("Tab")  # the next stop is inside the content, not the navigation
    assert page.evaluate("() => document.querySelector('main').contains(document.activeElement)")

    # The shared form template: the summary lists each problem, linked to its field.
    page.get_by_role("button", name="Register").click()
    expect(summary).to_be_visible()
    assert page.evaluate(FOCUSED_SUMMARY), focused(page)
    national_id = summary.get_by_role("link", name=re.compile(r"^National ID"))
    expect(national_id).to_be_visible()
    national_id.click()
    expect(page.locator("#id_national_id")).to_be_focused()

    # A hand-written form (the molecular markers table) gets the same summary: an
    # unknown method code for a marker without a result is refused.
    episode = world.episode
    page.goto(f"{base}{world.patient.get_absolute_url()}episodes/{episode.pk}/markers/")
    page.locator("#id_idh_method").select_option(index=1)
    page.get_by_role("button", name="Save").click()
    expect(summary).to_be_visible()
    assert page.evaluate(FOCUSED_SUMMARY), focused(page)
    assert errors == [], errors


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_patient_pages_links_say_what_they_edit(live_server, page):
    world = make_world(with_totp=True)
    patient = make_patient(world.clinician, full_name="Åse Lund")
    episode = complete_episode(patient, world.clinician)
    surgery = episode.surgeries.get()
    day = surgery.surgery_date.strftime("%d.%m.%Y")
    browser_sign_in(page, live_server.url, world.clinician)
    page.goto(f"{live_server.url}{patient.get_absolute_url()}")
    edit = page.get_by_role("link", name=f"Edit surgery of {day}", exact=True)
    expect(edit).to_have_attribute("href", re.compile(rf"/surgeries/{surgery.pk}/$"))
    expect(edit).to_have_text(f"Edit surgery of {day}")  # "Edit" shows; the rest is for readers
    assert (
        edit.evaluate("e => e.querySelector('.visually-hidden').getBoundingClientRect().width") <= 1
    )
    status = episode.performance.get()
    expect(
        page.get_by_role(
            "link",
            name=f"Edit performance status of {status.assessed_on.strftime('%d.%m.%Y')}",
            exact=True,
        )
    ).to_be_visible()
    # No two links of the page share a name yet lead to different places.
    names = page.eval_on_selector_all(
        "main a[href]", "els => els.map(e => [e.textContent.trim().replace(/\\s+/g, ' '), e.href])"
    )
    targets: dict[str, set[str]] = {}
    for name, href in names:
        targets.setdefault(name, set()).add(href)
    assert {n: t for n, t in targets.items() if len(t) > 1} == {}


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_lab_dashboard_updates_its_board_without_reloading(live_server, page):
    world = make_world(with_totp=True)
    errors: list[str] = []
    watch_console(page, errors)
    browser_sign_in(page, live_server.url, world.lab)
    page.clock.install()  # the page's timers run on a clock the test moves
    page.goto(f"{live_server.url}/screening/lab/")
    assert page.locator('meta[http-equiv="refresh"]').count() == 0
    expect(page).to_have_title("Lab dashboard · NBTC")
    expect(page.locator("#waiting")).to_contain_text("Nothing waiting.")
    page.evaluate("() => { window.notReloaded = true; }")
    page.get_by_role("link", name=re.compile("All requests")).focus()

    request = bring_to(world, State.REQUESTED)
    with page.expect_response(
        lambda r: r.url.endswith("/screening/lab/") and r.request.headers.get("hx-request")
    ):
        page.clock.run_for(61_000)
    expect(page.locator("#waiting")).to_contain_text(f"Request {request.pk}")
    assert page.evaluate("() => window.notReloaded === true")  # the same document
    # The focus outside the board stays where the member left it.
    expect(page.get_by_role("link", name=re.compile("All requests"))).to_be_focused()
    assert errors == [], errors


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_running_analysis_shows_its_results_without_reloading(live_server, page):
    world = make_world(with_totp=True)
    request = bring_to(world, State.IN_CULTURE)
    upload = upload_two_plates(world, request)
    run = AnalysisRun.objects.get(upload=upload)
    browser_sign_in(page, live_server.url, world.lab)
    page.goto(f"{live_server.url}/screening/requests/{request.pk}/results/")
    expect(page.locator("#progress")).to_contain_text("Analysis")
    assert page.locator('meta[http-equiv="refresh"]').count() == 0
    page.evaluate("() => { window.notReloaded = true; }")

    screening_services.analysis_run(run_id=run.pk)  # the worker's task body, here
    expect(page.locator("#run-facts")).to_be_visible(timeout=20_000)
    expect(page.locator("svg.heatmap")).to_have_count(2)
    assert page.evaluate("() => window.notReloaded === true")
    expect(page.locator("#progress")).to_have_count(0)
