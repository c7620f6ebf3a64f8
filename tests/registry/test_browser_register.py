"""A clinician's report in a real headless Chromium, through the pages only: register a
patient (after a refused national ID), enter the tumour episode section by section (with
an entry-rule error on the way), submit it as complete, see it locked and the worklist at
100 %; a clinician at another hospital then gets 404 for the patient.

The section forms autosave drafts (htmx) while the member types; like every other request
of the flow they must log no console error. A Content Security Policy violation logs one,
so a clean console also shows that htmx and our CSS load under the policy.
Chromium is launched with the overrides in tests/conftest.py (browser_type_launch_args)."""

import re

import pytest
from playwright.sync_api import Page, expect

from consortium.models import Role
from registry.models import Patient, TumourEpisode
from tests.conftest import browser_sign_in, make_member

# Skatteetaten Tenor synthetic number (docs/registry-rules.md §4), allowed in tests by the setting:
# born 12.02.1994, male. The same number with a wrong second control digit is invalid.
TENOR_ID = "12829499914"
WRONG_CONTROL_DIGIT = "12829499915"


def _field(page: Page, name: str):
    return page.locator(f'form.stacked [name="{name}"]')


def _field_box(page: Page, name: str):
    """The field's wrapper, which holds its errors (registry/_form_fields.html)."""
    return page.locator("form.stacked div.field").filter(has=page.locator(f'[name="{name}"]'))


def _fact(container, term: str):
    """The value of a <dt>/<dd> pair."""
    return container.locator(f"dt:text-is('{term}') + dd")


def _article(episode_section, heading: str):
    """One section of the episode (Diagnosis, Surgery ...)."""
    return episode_section.locator("article.section").filter(
        has=episode_section.page.get_by_role("heading", name=heading, exact=True)
    )


def _wait_for_autosave(page: Page) -> None:
    """The draft autosave has answered at least once (it posts as the member types)."""
    expect(page.locator("p.draft-status")).to_contain_text("Draft kept")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_clinician_registers_a_patient_and_completes_the_report(live_server, page):
    base = live_server.url
    errors = []

    def on_console(msg):
        if msg.type == "error":
            errors.append(f"{msg.text} ({msg.location.get('url')})")

    page.on("console", on_console)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    clinician = make_member(
        Role.CLINICIAN, institutions=("OUS",), email="clin@ous.no", with_totp=True
    )
    other = make_member(Role.CLINICIAN, institutions=("HUS",), email="clin@hus.no", with_totp=True)
    nav = page.get_by_role("navigation", name="Main")
    messages = page.locator("ul.messages")

    # 1. Sign in.
    browser_sign_in(page, base, clinician)

    # 2. Register a patient: first with a wrong control digit, then with the valid number.
    nav.get_by_role("link", name="Patients", exact=True).click()
    expect(page).to_have_url(f"{base}/registry/")
    page.get_by_role("link", name="Register a patient", exact=True).click()
    expect(page).to_have_url(f"{base}/registry/patients/new/")
    _field(page, "national_id").fill(WRONG_CONTROL_DIGIT)
    _field(page, "full_name").fill("Kari Nordmann")
    _field(page, "health_region").select_option("south_east")
    _field(page, "vital_status").select_option("alive")
    _field(page, "treats_patient").check()  # the declared care relationship
    _field(page, "care_reason").fill("Diagnosed at OUS")
    page.get_by_role("button", name="Register").click()

    national_id_box = _field_box(page, "national_id")
    expect(national_id_box).to_have_class(re.compile(r"\binvalid\b"))
    expect(national_id_box.locator(".errorlist")).to_contain_text("Invalid national ID")
    expect(national_id_box.locator(".errorlist")).to_contain_text("control digit")
    expect(messages).to_have_count(0)  # nothing was registered
    assert not Patient.objects.exists()

    _field(page, "national_id").fill(TENOR_ID)
    expect(_field(page, "full_name")).to_have_value("Kari Nordmann")  # the rest was kept
    expect(_field(page, "birth_date")).to_have_value("")  # left empty: taken from the ID
    page.get_by_label("Oslo universitetssykehus (OUS)").check()
    page.get_by_role("button", name="Register").click()

    patient_url_pattern = rf"^{re.escape(base)}/registry/patients/NB-[0-9A-Z]{{4}}-[0-9A-Z]{{4}}/$"
    expect(page).to_have_url(re.compile(patient_url_pattern))
    register_number = page.url.rstrip("/").rsplit("/", 1)[1]
    patient_url = f"{base}/registry/patients/{register_number}/"
    expect(messages).to_contain_text("Patient registered.")
    expect(page.locator("h1 .register-number")).to_have_text(register_number)
    card = page.locator("section.patient-card")
    expect(card.locator(".badge.synthetic")).to_have_text("synthetic ID")
    expect(_fact(card, "Born")).to_have_text("12.02.1994")
    expect(_fact(card, "Sex")).to_have_text("Male")

    # 3. The tumour episode: diagnosis. The form autosaves a draft while it is filled in.
    page.get_by_role("link", name="Add a tumour episode").click()
    expect(page).to_have_url(f"{patient_url}episodes/new/")
    _field(page, "referral_date").fill("2025-01-02")
    _field(page, "diagnosis_date").fill("2025-01-10")
    _field(page, "basis").select_option("histology")
    _field(page, "diagnosis").select_option(label="Glioblastoma, IDH-wildtype")
    _field(page, "who_grade").select_option("4")
    _field(page, "topography").select_option("C71.1")
    _field(page, "laterality").select_option("left")
    _field(page, "mdt_dates").fill("14.01.2025")
    _field(page, "trial_offered").select_option("yes")
    _field(page, "trial_accepted").select_option("no")
    _wait_for_autosave(page)
    page.get_by_role("button", name="Save").click()

    expect(page).to_have_url(re.compile(rf"^{re.escape(patient_url)}#episode-\d+$"))
    episode = TumourEpisode.objects.get(pk=int(page.url.rsplit("-", 1)[1]))
    assert episode.patient.register_number == register_number
    episode_section = page.locator(f"section#episode-{episode.pk}")
    expect(messages).to_contain_text("Diagnosis saved.")
    expect(episode_section.locator("h2")).to_contain_text(
        "Glioblastoma, IDH-wildtype, CNS WHO grade 4"
    )
    diagnosis = _article(episode_section, "Diagnosis")
    expect(_fact(diagnosis, "ICD-O-3 morphology")).to_have_text("9440/3")
    expect(_fact(diagnosis, "Date of diagnosis")).to_have_text("10.01.2025")
    expect(_fact(diagnosis, "MDT meetings")).to_have_text("14.01.2025")

    # 4. Molecular markers.
    episode_section.get_by_role("link", name="Edit markers").click()
    expect(page).to_have_url(f"{patient_url}episodes/{episode.pk}/markers/")
    page.locator('select[name="idh_result"]').select_option("wildtype")
    page.locator('select[name="idh_method"]').select_option("ihc")
    page.locator('select[name="mgmt_result"]').select_option("altered")
    page.locator('select[name="mgmt_method"]').select_option("pcr")
    _wait_for_autosave(page)
    page.get_by_role("button", name="Save").click()
    expect(messages).to_contain_text("Molecular markers saved.")
    markers = _article(episode_section, "Molecular markers")
    expect(markers).to_contain_text("IDH1/2 mutation: wildtype (Immunohistochemistry)")
    expect(markers).to_contain_text("MGMT promoter methylation: methylated (PCR / pyrosequencing)")

    # 5. Surgery: dated before the diagnosis, refused with the rule; then corrected.
    episode_section.get_by_role("link", name="Add surgery").click()
    expect(page).to_have_url(f"{patient_url}episodes/{episode.pk}/surgeries/new/")
    _field(page, "surgery_date").fill("2025-01-05")
    _field(page, "surgery_end_time").fill("14:00")
    _field(page, "procedure").select_option("resection")
    _field(page, "extent_of_resection").select_option("gross_total")
    _field(page, "postoperative_mri_at").fill("2025-01-06T09:00")
    _field(page, "complications_within_30_days").select_option("no")
    _wait_for_autosave(page)
    page.get_by_role("button", name="Save").click()

    surgery_date_box = _field_box(page, "surgery_date")
    expect(surgery_date_box).to_have_class(re.compile(r"\binvalid\b"))
    expect(surgery_date_box.locator(".errorlist")).to_contain_text(
        "Surgery date (05.01.2025) is before the date of diagnosis (10.01.2025)."
    )
    expect(_field(page, "procedure")).to_have_value("resection")  # the input was kept
    _field(page, "surgery_date").fill("2025-01-20")
    _field(page, "postoperative_mri_at").fill("2025-01-21T09:00")
    page.get_by_role("button", name="Save").click()
    expect(messages).to_contain_text("Surgery saved.")
    expect(_article(episode_section, "Surgery")).to_contain_text(
        "20.01.2025: Resection, gross total resection; MRI after 19"
    )

    # 6. Radiotherapy: 60 Gy / 30 for a 31-year-old with glioblastoma, the guideline: no warning.
    episode_section.get_by_role("link", name="Add radiotherapy course").click()
    expect(page).to_have_url(f"{patient_url}episodes/{episode.pk}/radiotherapy/new/")
    _field(page, "start_date").fill("2025-02-15")
    _field(page, "end_date").fill("2025-03-28")
    _field(page, "total_dose_gy").fill("60")
    _field(page, "fractions").fill("30")
    _field(page, "completed_as_planned").select_option("yes")
    _wait_for_autosave(page)
    page.get_by_role("button", name="Save").click()
    expect(messages).to_contain_text("Radiotherapy course saved.")
    # Norwegian numbers with each quantity's decimals (dose 0,1 Gy, per fraction 0,01 Gy),
    # U+00A0 before the unit.
    radiotherapy = _article(episode_section, "Radiotherapy")
    expect(radiotherapy).to_contain_text(
        "15.02.2025–28.03.2025: 60,0 Gy / 30 fractions (2,00 Gy per fraction)"
    )
    assert "60,0\u00a0Gy" in radiotherapy.inner_text()
    expect(episode_section.locator("div.warnings")).to_have_count(0)

    # 7. Performance status.
    episode_section.get_by_role("link", name="Add performance status").click()
    expect(page).to_have_url(f"{patient_url}episodes/{episode.pk}/performance/new/")
    _field(page, "assessed_on").fill("2025-01-08")
    _field(page, "ecog").select_option("1")
    _wait_for_autosave(page)
    page.get_by_role("button", name="Save").click()
    expect(messages).to_contain_text("Performance status saved.")
    expect(_article(episode_section, "Performance status")).to_contain_text("08.01.2025: ECOG 1")
    expect(episode_section.locator("div.missing")).to_have_count(0)  # nothing missing now

    # 8. Submit as complete, confirmed on its own page: the report is locked, with no edit
    # links left.
    episode_section.get_by_role("link", name="Submit as complete").click()
    expect(page.locator("#submit-blocking")).to_contain_text("Nothing")
    page.get_by_role("button", name="Submit as complete and lock the report").click()
    expect(messages).to_contain_text("Report submitted as complete; it is now locked.")
    expect(episode_section.locator("h2 .badge")).to_have_text("Complete")
    expect(episode_section.locator("p.hint").first).to_contain_text("locked.")
    expect(episode_section.get_by_role("link", name=re.compile(r"^(Edit|Add)\b"))).to_have_count(0)
    expect(episode_section.get_by_role("link", name="Submit as complete")).to_have_count(0)
    episode.refresh_from_db()
    assert episode.status == TumourEpisode.Status.COMPLETE

    # 8b. The History page tells it in words: labels, the member's name, Oslo times (the MRI
    # typed as 21.01.2025 09:00 Oslo time, stored as 08:00 UTC, reads as typed).
    page.get_by_role("link", name="History", exact=True).first.click()
    expect(page).to_have_url(f"{patient_url}history/")
    history = page.locator("table.history")
    expect(history).to_contain_text("status: Draft → Complete")
    expect(history).to_contain_text(f"completed by: – → {clinician.full_name}")
    expect(history).to_contain_text("extent of resection: Gross total resection")
    expect(history).to_contain_text("postoperative MRI: 21.01.2025 09:00")
    expect(history).not_to_contain_text("gross_total")
    expect(history.locator("tbody tr td time").first).to_have_text(
        re.compile(r"^\d\d\.\d\d\.\d{4} \d\d:\d\d$")
    )
    page.go_back()

    # 9. Worklist: OUS complete for all years; the patient is not among the incomplete.
    nav.get_by_role("link", name="Worklist", exact=True).click()
    expect(page).to_have_url(f"{base}/registry/worklist/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Worklist: Oslo universitetssykehus")
    expect(page.locator("#share-all")).to_have_text(re.compile(r"^100(,0)?\s%$"))  # Norwegian style
    worklist = page.locator("table.worklist tbody")
    expect(worklist).to_have_text("Every report is complete.")
    expect(worklist).not_to_contain_text(register_number)

    # 10. A clinician at another hospital gets 404 for the patient.
    page.get_by_role("button", name="Sign out").click()
    expect(nav.get_by_role("link", name="Sign in")).to_be_visible()
    browser_sign_in(page, base, other)
    assert errors == [], f"console errors (CSP violations among them?): {errors}"
    response = page.goto(patient_url)
    assert response.status == 404
    expect(page.get_by_role("heading", level=1)).to_have_text("Not found")
    expect(page.locator("main")).not_to_contain_text(register_number)
    # Chromium logs the 404 of the document itself, and that is the only error allowed.
    document_404 = (
        "Failed to load resource: the server responded with a status of 404 "
        f"(Not Found) ({patient_url})"
    )
    assert errors == [document_404], f"console errors (CSP violations among them?): {errors}"
