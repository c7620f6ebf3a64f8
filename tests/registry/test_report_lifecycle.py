"""A report's life: what it still lacks, submit as complete (then locked), reopen by a
coordinator or admin with a reason, and the history of who changed what and why."""

from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from consortium.models import Role
from registry import rules, selectors, services, vocabulary
from registry.models import MarkerResult, Reopening, Surgery, TumourEpisode
from registry.signals import register_changed
from tests.registry.factories import (  # noqa: F401 - fast_password_hashing is an autouse fixture
    born_aged,
    clinician,
    complete_episode,
    days_ago,
    fast_password_hashing,
    make_episode,
    make_patient,
    member,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def clin(db):
    return clinician("OUS")


@pytest.fixture
def patient(clin):
    return make_patient(clin)


@pytest.fixture
def submitted(clin, patient):
    episode = complete_episode(patient, clin)
    return services.episode_submit(episode=episode, by=clin)


def lowered(items):
    return " | ".join(items).lower()


def refused(call) -> dict:
    with pytest.raises(ValidationError) as caught:
        call()
    return caught.value.message_dict


# --- What is missing ------------------------------------------------------------------------------


def test_a_fresh_episode_lacks_the_whole_variable_set(clin, patient):
    episode = make_episode(patient, clin)
    missing = lowered(rules.missing_items(episode))
    # The diagnosis block of the variable set (docs/registry-rules.md §1) ...
    for item in (
        "diagnosis date",
        "basis of diagnosis",
        "who cns5 diagnosis",
        "topography",
        "laterality",
        "mdt meeting date",
        # ... surgery, performance status and the trial question (§2.1 kirurgimelding).
        "surgery or biopsy",
        "performance status",
        "trial inclusion offered",
    ):
        assert item in missing, (item, missing)
    # Nothing that depends on the tumour type yet.
    assert "marker" not in missing and "grade" not in missing


def test_missing_items_keep_the_field_labels_as_written(clin, patient):
    missing = rules.missing_items(make_episode(patient, clin))
    assert "WHO CNS5 diagnosis" in missing
    assert "ICD-10 topography" in missing


def test_the_tumour_type_adds_its_grade_and_required_markers(clin, patient):
    episode = make_episode(patient, clin, diagnosis=vocabulary.GLIOBLASTOMA_IDH_WILDTYPE)
    missing = lowered(rules.missing_items(episode))
    assert "cns who grade" in missing
    assert "marker: idh1/2 mutation" in missing and "marker: mgmt promoter methylation" in missing
    assert "codeletion" not in missing


def test_oligodendroglioma_needs_idh_mutation_and_codeletion_confirmed(clin, patient):
    episode = make_episode(patient, clin, diagnosis=vocabulary.OLIGODENDROGLIOMA, who_grade=2)
    services.markers_save(
        episode=episode,
        by=clin,
        expected_version=1,
        results={
            "idh": (MarkerResult.ALTERED, "ihc"),
            "codeletion_1p19q": (MarkerResult.INCONCLUSIVE, "fish"),
            "mgmt": (MarkerResult.NOT_TESTED, ""),
        },
    )
    missing = lowered(rules.missing_items(episode))
    assert "1p/19q codeletion confirmed" in missing
    assert "marker:" not in missing  # every required marker has a recorded answer


def test_a_radiological_diagnosis_needs_no_surgery(clin, patient):
    episode = make_episode(patient, clin, basis=TumourEpisode.Basis.RADIOLOGY)
    assert "surgery or biopsy" not in lowered(rules.missing_items(episode))


def test_a_trial_offered_needs_the_answer(clin, patient):
    episode = make_episode(patient, clin, trial_offered="yes")
    missing = lowered(rules.missing_items(episode))
    assert "trial inclusion accepted" in missing and "trial inclusion offered" not in missing


def test_nothing_is_missing_once_everything_is_entered(clin, patient):
    episode = complete_episode(patient, clin)
    assert rules.missing_items(selectors.episode_for_page(episode.pk)) == []


def test_missing_items_shrink_as_sections_are_entered(clin, patient):
    episode = complete_episode(patient, clin)
    row = episode.performance.get()
    services.section_delete(
        section="performance", episode=episode, row=row, by=clin, reason="Wrong date"
    )
    assert rules.missing_items(selectors.episode_for_page(episode.pk)) == ["Performance status"]


# --- Submit ---------------------------------------------------------------------------------------


def test_submit_refuses_an_incomplete_report_naming_what_is_missing(clin, patient):
    episode = make_episode(
        patient, clin, diagnosis=vocabulary.GLIOBLASTOMA_IDH_WILDTYPE, who_grade=4
    )
    errors = refused(lambda: services.episode_submit(episode=episode, by=clin))
    message = lowered(errors["status"])
    assert "not complete" in message
    for item in ("diagnosis date", "performance status", "surgery or biopsy", "idh1/2"):
        assert item in message
    episode.refresh_from_db()
    assert episode.status == TumourEpisode.Status.DRAFT


def test_submit_refuses_a_report_with_a_warning_nobody_acknowledged(clin):
    # 60 Gy/30# is the guideline at 50 with ECOG 1; an ECOG 3 entered afterwards, assessed
    # before the course started, makes it a warning (docs/registry-rules.md §2: ECOG 3-4 ->
    # hypofractionated) that was never acknowledged.
    start = days_ago(40)
    patient = make_patient(clin, birth_date=born_aged(50, start))
    episode = complete_episode(patient, clin, diagnosis_date=days_ago(60))
    services.section_save(
        section="radiotherapy",
        episode=episode,
        by=clin,
        start_date=start,
        total_dose_gy=Decimal(60),
        fractions=30,
    )
    services.section_save(
        section="performance", episode=episode, by=clin, assessed_on=days_ago(45), ecog=3
    )
    errors = refused(lambda: services.episode_submit(episode=episode, by=clin))
    assert "acknowledge" in lowered(errors["status"]) and "guideline" in lowered(errors["status"])


def test_submit_locks_a_complete_report(clin, submitted):
    submitted.refresh_from_db()
    assert submitted.status == TumourEpisode.Status.COMPLETE
    assert submitted.completed_by == clin and submitted.completed_at is not None


def test_only_an_editing_clinician_submits(patient, clin):
    episode = complete_episode(patient, clin)
    with pytest.raises(PermissionDenied):
        services.episode_submit(episode=episode, by=member(Role.COORDINATOR, "OUS"))
    with pytest.raises(PermissionDenied):
        services.episode_submit(episode=episode, by=clinician("HUS"))


# --- Locked --------------------------------------------------------------------------------------


def assert_locked(call):
    errors = refused(call)
    assert "locked" in " ".join(errors["status"])


def test_every_write_to_a_submitted_report_is_refused(clin, patient, submitted):
    episode = submitted
    version, markers_version = episode.version, episode.markers_version
    surgery = episode.surgeries.get()
    assert_locked(
        lambda: services.episode_save(
            patient=patient, by=clin, episode=episode, expected_version=version, laterality="right"
        )
    )
    assert_locked(
        lambda: services.markers_save(
            episode=episode,
            by=clin,
            expected_version=markers_version,
            results={"tert": (MarkerResult.ALTERED, "sequencing")},
        )
    )
    assert_locked(
        lambda: services.section_save(
            section="follow_ups", episode=episode, by=clin, assessed_on=days_ago(1)
        )
    )
    assert_locked(
        lambda: services.section_save(
            section="surgeries",
            episode=episode,
            by=clin,
            row=surgery,
            expected_version=surgery.version,
            extent_of_resection=Surgery.ExtentOfResection.SUBTOTAL,
        )
    )
    assert_locked(
        lambda: services.section_delete(
            section="surgeries", episode=episode, row=surgery, by=clin, reason="Entered twice"
        )
    )
    episode.refresh_from_db()
    assert episode.laterality == "left" and episode.version == version
    assert not episode.markers.filter(marker="tert").exists() and not episode.follow_ups.exists()
    surgery.refresh_from_db()
    assert surgery.extent_of_resection == Surgery.ExtentOfResection.GROSS_TOTAL


def test_a_row_of_a_report_submitted_since_loading_is_not_deleted(clin, patient):
    loaded = complete_episode(patient, clin)  # the draft as the page loaded it
    services.episode_submit(episode=loaded, by=clin)
    surgery = loaded.surgeries.get()
    with pytest.raises(ValidationError):
        services.section_delete(
            section="surgeries", episode=loaded, row=surgery, by=clin, reason="Mistake"
        )
    assert Surgery.objects.filter(pk=surgery.pk).exists()


def test_a_stale_episode_instance_does_not_unlock_the_other_writes(clin, patient):
    loaded = complete_episode(patient, clin)
    services.episode_submit(episode=loaded, by=clin)
    assert_locked(
        lambda: services.episode_save(
            patient=patient, by=clin, episode=loaded, expected_version=None, laterality="right"
        )
    )
    assert_locked(
        lambda: services.section_save(
            section="follow_ups", episode=loaded, by=clin, assessed_on=days_ago(1)
        )
    )
    assert_locked(
        lambda: services.markers_save(
            episode=loaded,
            by=clin,
            expected_version=None,
            results={"tert": (MarkerResult.ALTERED, "pcr")},
        )
    )


# --- Reopen -------------------------------------------------------------------------------------


def test_a_clinician_cannot_reopen(clin, submitted):
    with pytest.raises(PermissionDenied):
        services.episode_reopen(episode=submitted, by=clin, reason="Need to fix the grade")
    submitted.refresh_from_db()
    assert submitted.status == TumourEpisode.Status.COMPLETE


@pytest.mark.parametrize("reason", ["", "   "])
def test_a_coordinator_must_give_a_reason(submitted, reason):
    coordinator = member(Role.COORDINATOR, "OUS")
    errors = refused(
        lambda: services.episode_reopen(episode=submitted, by=coordinator, reason=reason)
    )
    assert "reason" in errors
    submitted.refresh_from_db()
    assert submitted.status == TumourEpisode.Status.COMPLETE and not Reopening.objects.exists()


def test_a_coordinator_of_the_institution_reopens_with_a_reason(clin, patient, submitted):
    coordinator = member(Role.COORDINATOR, "OUS")
    reopened = services.episode_reopen(
        episode=submitted, by=coordinator, reason="Pathology revised the grade"
    )
    reopened.refresh_from_db()
    assert reopened.status == TumourEpisode.Status.DRAFT
    assert reopened.completed_at is None and reopened.completed_by is None
    reopening = Reopening.objects.get()
    assert (reopening.episode, reopening.by, reopening.reason) == (
        reopened,
        coordinator,
        "Pathology revised the grade",
    )
    # The clinicians can edit again.
    services.episode_save(
        patient=patient,
        by=clin,
        episode=reopened,
        expected_version=reopened.version,
        laterality="right",
    )


def test_a_coordinator_of_another_institution_cannot_reopen(submitted):
    with pytest.raises(PermissionDenied):
        services.episode_reopen(
            episode=submitted, by=member(Role.COORDINATOR, "HUS"), reason="Typo"
        )
    assert not Reopening.objects.exists()


def test_an_admin_reopens(submitted):
    admin = member(Role.ADMIN, "UIO-ICR")
    services.episode_reopen(episode=submitted, by=admin, reason="Duplicate report, merged")
    submitted.refresh_from_db()
    assert submitted.status == TumourEpisode.Status.DRAFT
    assert Reopening.objects.get().by == admin


@pytest.mark.parametrize("role", [Role.RESEARCHER, Role.LAB_SCIENTIST])
def test_other_roles_cannot_reopen(submitted, role):
    with pytest.raises(PermissionDenied):
        services.episode_reopen(episode=submitted, by=member(role, "OUS"), reason="Because")


def test_a_draft_cannot_be_reopened(clin, patient):
    episode = make_episode(patient, clin)
    errors = refused(
        lambda: services.episode_reopen(
            episode=episode, by=member(Role.COORDINATOR, "OUS"), reason="Nothing to reopen"
        )
    )
    assert "status" in errors


# --- History --------------------------------------------------------------------------------------


def entries(patient, what: str) -> list[dict]:
    return [e for e in selectors.patient_history(patient) if e["what"] == what]


def test_history_lists_who_changed_what_and_why(clin, patient):
    other = make_patient(clin, full_name="Ola Annen")
    episode = make_episode(
        patient,
        clin,
        diagnosis=vocabulary.ASTROCYTOMA_IDH_MUTANT,
        who_grade=2,
        reason="New referral",
    )
    colleague = clinician("OUS")
    services.episode_save(
        patient=patient,
        by=colleague,
        episode=episode,
        expected_version=episode.version,
        who_grade=3,
        reason="Pathology revised",
    )
    changed = entries(patient, "Tumour episode changed")
    assert len(changed) == 1
    assert changed[0]["who"] == colleague and changed[0]["reason"] == "Pathology revised"
    changes = {label: (old, new) for label, old, new in changed[0]["changes"]}
    assert changes["CNS WHO grade"] == ("2", "3")  # in words, as the page shows them
    assert changes["ICD-O-3 morphology"] == ("9400/3", "9401/3")
    added = entries(patient, "Tumour episode added")
    assert added[0]["who"] == clin and added[0]["reason"] == "New referral"
    # The registration is there too, and nothing of the other patient.
    assert entries(patient, "Patient added")[0]["who"] == clin
    assert len(entries(other, "Tumour episode added")) == 0


def test_history_keeps_submit_and_reopen_with_the_reason(clin, patient, submitted):
    coordinator = member(Role.COORDINATOR, "OUS")
    services.episode_reopen(episode=submitted, by=coordinator, reason="Wrong laterality")
    statuses = [
        e
        for e in entries(patient, "Tumour episode changed")
        if any(label == "status" for label, _, _ in e["changes"])
    ]
    reopen = next(e for e in statuses if ("status", "Complete", "Draft") in e["changes"])
    assert reopen["who"] == coordinator and "Wrong laterality" in reopen["reason"]
    submit = next(e for e in statuses if ("status", "Draft", "Complete") in e["changes"])
    assert submit["who"] == clin


def test_history_of_patient_details_changes(clin, patient):
    services.patient_update(
        patient=patient,
        by=clin,
        expected_version=patient.version,
        full_name="Kari Nordmann Hansen",
        reason="Name changed at marriage",
    )
    changed = entries(patient, "Patient changed")
    assert changed[0]["reason"] == "Name changed at marriage"
    assert ("name", "Kari Nordmann", "Kari Nordmann Hansen") in changed[0]["changes"]


def test_history_keeps_a_removed_row_with_the_reason(clin, patient):
    episode = complete_episode(patient, clin)
    row = episode.surgeries.get()
    services.section_delete(
        section="surgeries",
        episode=episode,
        row=row,
        by=clin,
        reason="Entered on the wrong patient",
    )
    removed = entries(patient, "Surgery removed")
    assert (
        removed
        and removed[0]["reason"] == "Entered on the wrong patient"
        and removed[0]["who"] == clin
    )


def test_a_removal_needs_a_reason(clin, patient):
    episode = complete_episode(patient, clin)
    row = episode.surgeries.get()
    errors = refused(
        lambda: services.section_delete(
            section="surgeries", episode=episode, row=row, by=clin, reason=" "
        )
    )
    assert "reason" in errors
    assert Surgery.objects.filter(pk=row.pk).exists()


def test_history_is_newest_first_within_a_section(clin, patient):
    episode = make_episode(patient, clin, diagnosis_date=days_ago(30))
    for day in (29, 28):
        episode = services.episode_save(
            patient=patient,
            by=clin,
            episode=episode,
            expected_version=episode.version,
            diagnosis_date=days_ago(day),
            reason=f"Day {day}",
        )
    reasons = [
        e["reason"]
        for e in selectors.patient_history(patient)
        if e["what"].startswith("Tumour episode")
    ]
    assert reasons[:3] == ["Day 28", "Day 29", ""]


def test_a_lead_time_acknowledged_on_the_diagnosis_does_not_block_submit(clin, patient):
    episode = complete_episode(patient, clin, diagnosis_date=days_ago(60))  # operated that day
    # The referral turns out to be 30 days before the surgery: over the 21-day norm (§2.1).
    episode = services.episode_save(
        patient=patient,
        by=clin,
        episode=episode,
        expected_version=episode.version,
        referral_date=days_ago(90),
        acknowledge=True,
    )
    assert episode.acknowledged_warnings  # the member saw and acknowledged it
    services.episode_submit(episode=episode, by=clin)


@pytest.mark.parametrize(
    ("diagnosis", "grade", "idh"),
    [
        (vocabulary.GLIOBLASTOMA_IDH_WILDTYPE, 4, MarkerResult.NOT_TESTED),
        (vocabulary.GLIOBLASTOMA_IDH_WILDTYPE, 4, MarkerResult.INCONCLUSIVE),
        (vocabulary.ASTROCYTOMA_IDH_MUTANT, 2, MarkerResult.NOT_TESTED),
    ],
)
def test_an_idh_defined_diagnosis_needs_its_idh_status_confirmed(
    clin, patient, diagnosis, grade, idh
):
    # docs/registry-rules.md §1: the adult-type diffuse gliomas are defined by IDH (and 1p/19q);
    # "use NOS when testing was not done or failed".
    episode = make_episode(patient, clin, diagnosis=diagnosis, who_grade=grade)
    services.markers_save(
        episode=episode,
        by=clin,
        expected_version=1,
        results={
            "idh": (idh, ""),
            "mgmt": (MarkerResult.ALTERED, "pcr"),
            "cdkn2ab": (MarkerResult.WILDTYPE, "copy_number"),
            "atrx": (MarkerResult.ALTERED, "ihc"),
        },
    )
    assert "idh" in lowered(rules.missing_items(episode))


def test_submit_and_reopen_tell_other_apps(clin, patient, django_capture_on_commit_callbacks):
    heard = []

    def receiver(sender, **kwargs):
        heard.append((kwargs["patient_id"], kwargs["episode_id"]))

    episode = complete_episode(patient, clin)
    register_changed.connect(receiver)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            services.episode_submit(episode=episode, by=clin)
        with django_capture_on_commit_callbacks(execute=True):
            services.episode_reopen(
                episode=episode, by=member(Role.COORDINATOR, "OUS"), reason="Typo"
            )
    finally:
        register_changed.disconnect(receiver)
    assert heard == [(patient.pk, episode.pk), (patient.pk, episode.pk)]
