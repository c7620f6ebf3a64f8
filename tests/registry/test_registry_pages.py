"""The register in the browser's terms (Django test client): register a patient, enter
the report section by section, see errors and warnings, submit, lock, reopen; and who
sees what (404 for other hospitals), with every view access-logged."""

import re
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from consortium.models import AccessLog, Role
from registry.models import Patient, TumourEpisode
from tests.conftest import make_member, sign_in

# Skatteetaten Tenor synthetic numbers (docs/registry-rules.md §4), allowed in tests by the setting.
TENOR_ID = "12829499914"  # 12.02.1994, male


@pytest.fixture
def clinician(db):
    return make_member(Role.CLINICIAN, institutions=("OUS",), email="clin@ous.no", with_totp=True)


@pytest.fixture
def clinician_client(client, clinician):
    sign_in(client, clinician)
    return client


def register(client, **overrides):
    data = {
        "national_id": TENOR_ID,
        "full_name": "Kari Nordmann",
        "sex": "",
        "birth_date": "",
        "health_region": "south_east",
        "vital_status": "alive",
        "date_of_death": "",
        "institutions": [],
        "reason": "",
        "treats_patient": "on",  # every registration declares the care relationship
        "care_reason": "Diagnosed at OUS",
    }
    from consortium.models import Institution

    data["institutions"] = [Institution.objects.get(code="OUS").pk]
    data.update(overrides)
    return client.post("/registry/patients/new/", data)


def test_register_patient_derives_birth_date_and_redirects_to_the_page(clinician_client):
    response = register(clinician_client)
    patient = Patient.objects.get()
    assert response.status_code == 302 and response["Location"] == patient.get_absolute_url()
    assert str(patient.birth_date) == "1994-02-12" and patient.sex == "male"
    assert patient.synthetic_id.startswith("Tenor")
    page = clinician_client.get(patient.get_absolute_url())
    assert page.status_code == 200
    assert (
        TENOR_ID in page.content.decode()
    )  # a clinician at the patient's hospital sees it in full
    assert "synthetic ID" in page.content.decode()
    assert page["Cache-Control"].startswith("max-age=0") or "no-store" in page["Cache-Control"]


def test_invalid_national_id_names_the_field_and_the_rule(clinician_client):
    response = register(clinician_client, national_id="12829499915")
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert "control digit" in " ".join(errors["national_id"])
    assert not Patient.objects.exists()


def test_synthetic_ids_refused_when_the_setting_is_off(clinician_client, settings):
    settings.ALLOW_SYNTHETIC_NATIONAL_IDS = False
    response = register(clinician_client)
    assert "synthetic test number" in " ".join(response.context["form"].errors["national_id"])


def test_national_id_search_goes_by_post_never_in_the_url(clinician_client):
    register(clinician_client)
    response = clinician_client.get(f"/registry/?q={TENOR_ID}")
    assert response.status_code == 302 and TENOR_ID not in response["Location"]
    found = clinician_client.post("/registry/", {"q": TENOR_ID})
    assert Patient.objects.get().register_number in found.content.decode()


def _episode(client, patient, **overrides):
    data = {
        "referral_date": "2025-01-02",
        "diagnosis_date": "2025-01-10",
        "basis": "histology",
        "diagnosis": "glioblastoma_idh_wildtype",
        "who_grade": "4",
        "topography": "C71.1",
        "laterality": "left",
        "mdt_dates": "14.01.2025",
        "trial_offered": "yes",
        "trial_accepted": "no",
        "reason": "",
    }
    data.update(overrides)
    return client.post(f"{patient.get_absolute_url()}episodes/new/", data)


def test_a_dose_typed_with_a_decimal_comma_is_kept_and_shown_back_with_it(clinician_client):
    """Norwegians type 59,4 Gy: a browser's number box refused or emptied it."""
    register(clinician_client)
    patient = Patient.objects.get()
    _episode(clinician_client, patient)
    episode = TumourEpisode.objects.get()
    base = f"{patient.get_absolute_url()}episodes/{episode.pk}/radiotherapy/"
    rt = {
        "start_date": "2025-02-15",
        "end_date": "2025-04-01",
        "total_dose_gy": "59,4",
        "fractions": "33",
        "completed_as_planned": "yes",
        "reason": "",
    }
    bad = clinician_client.post(base + "new/", {**rt, "total_dose_gy": "59,4,1"})
    assert bad.status_code == 200 and bad.context["form"].errors["total_dose_gy"]
    assert 'value="59,4,1"' in bad.content.decode()  # shown back as typed
    saved = clinician_client.post(base + "new/", rt)
    if saved.status_code == 200:  # a guideline warning to acknowledge first
        rt["acknowledge_warnings"] = [
            c for c, _ in saved.context["form"].fields["acknowledge_warnings"].choices
        ]
        saved = clinician_client.post(base + "new/", rt)
    assert saved.status_code == 302
    course = episode.radiotherapy.get()
    assert course.total_dose_gy == Decimal("59.4")
    form = clinician_client.get(f"{base}{course.pk}/").content.decode()
    assert re.search(r'name="total_dose_gy" value="59,4[0]?"', form)
    assert 'inputmode="decimal"' in form


def test_report_flow_errors_warnings_submit_lock(clinician_client):
    register(clinician_client)
    patient = Patient.objects.get()
    assert _episode(clinician_client, patient, who_grade="2").context["form"].errors["who_grade"]
    assert _episode(clinician_client, patient).status_code == 302
    episode = TumourEpisode.objects.get()
    assert episode.morphology == "9440/3"
    base = f"{patient.get_absolute_url()}episodes/{episode.pk}/"

    surgery = {
        "surgery_date": "2025-01-05",
        "surgery_end_time": "14:00",
        "procedure": "resection",
        "extent_of_resection": "gross_total",
        "postoperative_mri_at": "2025-01-06T09:00",
        "complications_within_30_days": "no",
        "complications": "",
        "reason": "",
    }
    response = clinician_client.post(base + "surgeries/new/", surgery)
    assert "before the date of diagnosis" in " ".join(
        response.context["form"].errors["surgery_date"]
    )
    surgery.update(surgery_date="2025-01-20", postoperative_mri_at="2025-01-21T09:00")
    assert clinician_client.post(base + "surgeries/new/", surgery).status_code == 302

    # 50 Gy/25 for a 31-year-old with glioblastoma: outside the guideline (60 Gy/30) -> warning.
    rt = {
        "start_date": "2025-02-15",
        "end_date": "2025-03-20",
        "total_dose_gy": "50",
        "fractions": "25",
        "completed_as_planned": "yes",
        "reason": "",
    }
    response = clinician_client.post(base + "radiotherapy/new/", rt)
    assert response.status_code == 200
    assert [c for c, _ in response.context["form"].fields["acknowledge_warnings"].choices] == [
        "rt_dose_guideline"
    ]
    rt["acknowledge_warnings"] = ["rt_dose_guideline"]
    assert clinician_client.post(base + "radiotherapy/new/", rt).status_code == 302

    markers = {
        "version": episode.markers_version,
        "reason": "",
        "idh_result": "wildtype",
        "idh_method": "ihc",
        "mgmt_result": "altered",
        "mgmt_method": "pcr",
    }
    assert clinician_client.post(base + "markers/", markers).status_code == 302

    # Not complete yet: no performance status.
    clinician_client.post(base + "submit/", {"confirm": "yes"})
    episode.refresh_from_db()
    assert episode.status == "draft"
    assert (
        clinician_client.post(
            base + "performance/new/",
            {"assessed_on": "2025-01-08", "ecog": "1", "karnofsky": "", "reason": ""},
        ).status_code
        == 302
    )
    clinician_client.post(base + "submit/", {"confirm": "yes"})
    episode.refresh_from_db()
    assert episode.status == "complete"
    # Locked: the diagnosis form refuses.
    response = _episode(clinician_client, patient)  # a new episode is still allowed
    assert response.status_code == 302
    edit = clinician_client.post(base, {"diagnosis_date": "2025-01-11", "version": episode.version})
    assert edit.status_code == 200 and "locked" in edit.content.decode()


def test_other_hospitals_get_404_and_views_are_logged(client, clinician_client, clinician):
    register(clinician_client)
    patient = Patient.objects.get()
    assert not AccessLog.objects.filter(user=clinician, patient_id=patient.pk).exists()
    clinician_client.get(patient.get_absolute_url())
    assert AccessLog.objects.filter(
        user=clinician, patient_id=patient.pk, page="registry:patient"
    ).exists()
    client.logout()
    other = make_member(Role.CLINICIAN, institutions=("HUS",), email="clin@hus.no", with_totp=True)
    sign_in(client, other)
    assert client.get(patient.get_absolute_url()).status_code == 404
    assert client.get(f"/api/v1/registry/patients/{patient.register_number}/").status_code == 404
    assert patient.register_number not in client.get("/registry/").content.decode()


def test_history_shows_who_what_and_why(clinician_client, clinician):
    register(clinician_client, reason="First visit")
    patient = Patient.objects.get()
    response = clinician_client.post(
        f"{patient.get_absolute_url()}edit/",
        {
            "full_name": "Kari Nordmann Hansen",
            "sex": "female",
            "birth_date": "1994-02-12",
            "health_region": "south_east",
            "vital_status": "alive",
            "date_of_death": "",
            "institutions": [i.pk for i in patient.institutions.all()],
            "version": patient.version,
            "reason": "Name changed at marriage",
        },
    )
    assert response.status_code == 302, response.context["form"].errors
    history = clinician_client.get(f"{patient.get_absolute_url()}history/").content.decode()
    assert "Name changed at marriage" in history and "Kari Nordmann Hansen" in history
    assert clinician.email in history or str(clinician) in history


def test_patient_list_query_count_is_constant(clinician_client, clinician):
    def count():
        clinician_client.get("/registry/")  # may renew the session (once a minute); not counted
        with CaptureQueriesContext(connection) as queries:
            assert clinician_client.get("/registry/").status_code == 200
        return len(queries)

    register(clinician_client)
    few = count()
    from consortium.models import Institution
    from registry.models import PatientInstitution

    ous = Institution.objects.get(code="OUS")
    for i in range(30):
        p = Patient.objects.create(
            national_id=f"{i:011d}",
            full_name=f"Test {i}",
            search_name=f"test {i}",
            sex="female",
            birth_date="1970-01-01",
        )
        PatientInstitution.objects.create(patient=p, institution=ous)
    assert count() == few


def test_autosaved_draft_is_restored_and_a_late_autosave_after_saving_is_ignored(clinician_client):
    register(clinician_client)
    patient = Patient.objects.get()
    form_url = f"{patient.get_absolute_url()}episodes/new/"
    draft_url = f"{patient.get_absolute_url()}drafts/episode-new/"
    typed = {"diagnosis_date": "2025-01-10", "diagnosis": "meningioma", "draft_token": "t1"}
    assert clinician_client.post(draft_url, typed).status_code == 200
    restored = clinician_client.get(form_url)
    assert "Restored your unsaved input" in restored.content.decode()
    assert restored.context["form"].initial["diagnosis"] == "meningioma"

    saved = _episode(
        clinician_client, patient, diagnosis="meningioma", who_grade="1", draft_token="t1"
    )
    assert saved.status_code == 302
    # An autosave from the same rendering of the form, still in flight when it was saved:
    clinician_client.post(draft_url, {**typed, "draft_token": "t1"})
    assert "Restored your unsaved input" not in clinician_client.get(form_url).content.decode()
    # A later rendering of the form (a new token) autosaves again as usual.
    clinician_client.post(draft_url, {**typed, "draft_token": "t2"})
    assert "Restored your unsaved input" in clinician_client.get(form_url).content.decode()


def test_other_apps_add_panels_to_the_patient_page_without_the_register_importing_them(
    clinician_client,
):
    from django.utils.html import format_html

    from registry import panels

    register(clinician_client)
    patient = Patient.objects.get()
    seen = []

    def panel(request, shown):
        seen.append((request.user.email, shown.pk))
        return format_html("<section id='test-panel'>{}</section>", shown.register_number)

    panels.register("test-panel", render=panel)
    try:
        page = clinician_client.get(patient.get_absolute_url()).content.decode()
    finally:
        panels._panels.pop("test-panel")
    assert f"<section id='test-panel'>{patient.register_number}</section>" in page
    assert seen == [("clin@ous.no", patient.pk)]


def test_the_patient_pages_section_loader_reads_what_the_orm_reads(db):
    """selectors.patient_episodes prefetches every section; every field (dates, times,
    decimals, arrays, booleans) must come back as the ORM gives it, in Meta.ordering."""
    import datetime
    from decimal import Decimal

    from django.forms.models import model_to_dict
    from django.utils import timezone

    from consortium.models import Institution
    from registry import selectors
    from registry.models import (
        FollowUp,
        MolecularMarker,
        PerformanceStatus,
        RadiotherapyCourse,
        Surgery,
        SystemicTherapy,
    )

    ous = Institution.objects.get(code="OUS")
    patient = Patient.objects.create(
        national_id="12829499914",
        full_name="A",
        search_name="a",
        sex="male",
        birth_date=datetime.date(1994, 2, 12),
    )
    episode = TumourEpisode.objects.create(
        patient=patient, institution=ous, mdt_dates=[datetime.date(2025, 1, 3)]
    )
    MolecularMarker.objects.create(episode=episode, marker="mgmt", result="altered", method="pcr")
    for day in (
        datetime.date(2025, 2, 1),
        datetime.date(2025, 1, 5),
    ):  # out of order: sorted on load
        Surgery.objects.create(
            episode=episode,
            surgery_date=day,
            procedure="resection",
            surgery_end_time=datetime.time(13, 45),
            reoperation=True,
            postoperative_mri_at=timezone.make_aware(datetime.datetime(2025, 2, 2, 8, 30)),
            acknowledged_warnings=["mri_after_72h"],
        )
    RadiotherapyCourse.objects.create(
        episode=episode,
        start_date=datetime.date(2025, 3, 1),
        total_dose_gy=Decimal("59.40"),
        fractions=33,
    )
    SystemicTherapy.objects.create(
        episode=episode,
        regimen="other",
        regimen_other="ONC201",
        cycles=3,
        start_date=datetime.date(2025, 3, 1),
    )
    PerformanceStatus.objects.create(
        episode=episode, assessed_on=datetime.date(2025, 1, 2), karnofsky=70
    )
    FollowUp.objects.create(
        episode=episode,
        assessed_on=datetime.date(2025, 6, 1),
        rano_response="PD",
        progression=True,
        progression_date=datetime.date(2025, 5, 30),
        notes="é ø",
    )
    from registry.models import Reopening

    coordinator = make_member(Role.COORDINATOR, email="co@ous.no")
    for reason in ("first", "second"):
        Reopening.objects.create(episode=episode, by=coordinator, reason=reason)

    [loaded] = selectors.patient_episodes(patient)
    from registry.sections import SECTIONS

    for name in ["markers", *SECTIONS, "reopenings"]:
        expected = [model_to_dict(row) for row in getattr(episode, name).all()]
        got = [model_to_dict(row) for row in getattr(loaded, name).all()]
        assert got == expected and got, name
    surgery = loaded.surgeries.all()[0]
    assert surgery.surgery_date == datetime.date(2025, 1, 5)  # Meta.ordering kept
    assert loaded.radiotherapy.all()[0].dose_per_fraction_gy == Decimal("1.80")
    assert [r.reason for r in loaded.reopenings.all()] == ["second", "first"]  # newest first
    assert loaded.reopenings.all()[0].by == coordinator


def test_patient_page_query_count_is_constant_in_the_record(clinician_client):
    """Eleven queries (session, member with MFA, institutions; the patient, the access-log row;
    the episodes, all their sections in one; screening, trials, declarations; the menu's
    unread inbox count) whether the record holds one empty episode or two full ones,
    reopened."""
    import datetime
    from decimal import Decimal

    from registry.models import RadiotherapyCourse, Reopening, Surgery

    register(clinician_client)
    patient = Patient.objects.get()
    url = patient.get_absolute_url()

    def count():
        clinician_client.get(url)  # may renew the session (once a minute); not counted
        with CaptureQueriesContext(connection) as queries:
            assert clinician_client.get(url).status_code == 200
        return len(queries)

    ous = patient.institutions.get()
    TumourEpisode.objects.create(patient=patient, institution=ous)
    few = count()
    coordinator = make_member(Role.COORDINATOR, email="co2@ous.no")
    for _ in range(2):
        episode = TumourEpisode.objects.create(
            patient=patient,
            institution=ous,
            diagnosis="glioblastoma",
            status=TumourEpisode.Status.COMPLETE,
            completed_by=coordinator,
        )
        for day in (3, 9):
            Surgery.objects.create(
                episode=episode, surgery_date=datetime.date(2025, 1, day), procedure="resection"
            )
        RadiotherapyCourse.objects.create(
            episode=episode,
            start_date=datetime.date(2025, 2, 1),
            total_dose_gy=Decimal("60.00"),
            fractions=30,
        )
        Reopening.objects.create(episode=episode, by=coordinator, reason="late result")
    assert few == count() == 11
