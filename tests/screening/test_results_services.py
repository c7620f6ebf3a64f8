"""Uploads taken whole or not at all, the analysis stored per plate and drug, the QC
gate with its override, and the signed, versioned report."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from consortium.services import EditConflict
from screening import services
from screening.models import (
    AnalysisRun,
    DrugResult,
    Plate,
    PlateLayoutTemplate,
    PlateUpload,
    ReferenceSet,
    Report,
    State,
    Well,
)
from tests.screening.factories import (
    analysed,
    bring_to,
    make_world,
    results_file,
    upload_two_plates,
)

pytestmark = pytest.mark.django_db


def test_an_upload_is_stored_whole_and_moves_the_request_to_screening(
    django_capture_on_commit_callbacks,
):
    world = make_world()
    request = bring_to(world, State.IN_CULTURE)
    with django_capture_on_commit_callbacks() as callbacks:
        upload = upload_two_plates(world, request, save_template_as="FIMM 384 two plates")
    assert len(callbacks) >= 1  # the analysis task is queued after commit
    assert list(upload.plates.values_list("name", flat=True)) == ["P1", "P2"]
    assert Well.objects.filter(plate__upload=upload).count() == 396
    request.refresh_from_db()
    assert request.state == State.SCREENING
    assert AnalysisRun.objects.get(upload=upload).status == "queued"
    template = PlateLayoutTemplate.objects.get(name="FIMM 384 two plates")
    again = services.plate_upload(
        screening_request=request,
        by=world.lab,
        layout_template=template,
        readouts=[("long.csv", results_file("readout_two_plates_long.csv"))],
    )
    assert again.plates.count() == 2


def test_a_bad_readout_leaves_nothing_behind():
    world = make_world()
    request = bring_to(world, State.IN_CULTURE)
    bad = results_file("readout_two_plates_long.csv").replace(b"P2,C7,", b"P2,C7,x")
    with pytest.raises(ValidationError) as error:
        upload_two_plates(world, request, readouts=[("long.csv", bad)])
    assert "long.csv: Line" in str(error.value) and "is not a numeric signal" in str(error.value)
    assert (
        PlateUpload.objects.count() == 0
        and Plate.objects.count() == 0
        and Well.objects.count() == 0
    )
    request.refresh_from_db()
    assert request.state == State.IN_CULTURE


def test_only_the_labs_scientists_upload_and_only_for_an_accepted_sample():
    world = make_world()
    request = bring_to(world, State.IN_CULTURE)
    for outsider in (world.other_lab, world.clinician):
        with pytest.raises(PermissionDenied):
            upload_two_plates(world, request, by=outsider)
    early = bring_to(world, State.RECEIVED)
    with pytest.raises(ValidationError, match="in culture or screening"):
        upload_two_plates(world, early)


def test_the_analysis_scores_every_drug_and_marks_flat_curves():
    world = make_world()
    request, upload, run = analysed(world)
    assert run.status == "done" and run.seconds < 5
    assert set(upload.plates.values_list("qc_status", flat=True)) == {"pass"}
    results = {r.drug_name: r for r in DrugResult.objects.filter(run=run)}
    assert len(results) == 30
    assert "flat" in results["Birinapant"].fit_flags and results["Birinapant"].dss2 == 0
    assert (
        results["Palbociclib"].dss2 > 30 and results["Palbociclib"].drug_class == "CDK4/6 inhibitor"
    )
    inhibition = Well.objects.filter(plate__upload=upload, role="negative").values_list(
        "inhibition", flat=True
    )
    assert abs(sum(inhibition) / len(inhibition)) < 1e-6  # DMSO is 0 % on average by construction


def test_rerunning_gives_the_same_numbers_and_a_done_run_is_left_alone():
    world = make_world()
    request, upload, run = analysed(world)
    first = list(
        DrugResult.objects.filter(run=run)
        .order_by("drug_name")
        .values_list("dss1", "dss2", "dss3", "log_ic50")
    )
    services.analysis_run(run_id=run.pk)  # a redelivered task: nothing changes
    assert (
        list(
            DrugResult.objects.filter(run=run)
            .order_by("drug_name")
            .values_list("dss1", "dss2", "dss3", "log_ic50")
        )
        == first
    )
    second = services.analysis_queue(upload=upload, by=world.lab)
    services.analysis_run(run_id=second.pk)
    assert (
        list(
            DrugResult.objects.filter(run=second)
            .order_by("drug_name")
            .values_list("dss1", "dss2", "dss3", "log_ic50")
        )
        == first
    )


def test_a_failed_plate_is_not_scored_until_overridden_with_a_reason():
    from screening.models import LabQcSettings

    world = make_world()
    LabQcSettings.objects.create(
        lab=world.uib, z_prime_warn=0.99, z_prime_pass=0.995
    )  # every plate fails
    request, upload, run = analysed(world)
    assert set(upload.plates.values_list("qc_status", flat=True)) == {"fail"}
    assert not DrugResult.objects.filter(run=run, dss2__isnull=False).exists()
    assert all("failed QC: not scored" in r.qc_flags[0] for r in DrugResult.objects.filter(run=run))
    plate = upload.plates.get(name="P1")
    with pytest.raises(ValidationError, match="Say why"):
        services.plate_override(plate=plate, by=world.lab, reason=" ")
    rerun = services.plate_override(
        plate=plate, by=world.lab, reason="Controls drifted; curves consistent."
    )
    services.analysis_run(run_id=rerun.pk)
    scored = DrugResult.objects.filter(run=rerun, dss2__isnull=False)
    assert scored.count() == 15 and all("scored by override" in r.qc_flags[0] for r in scored)


def test_selective_dss_against_the_labs_reference_set():
    world = make_world()
    ReferenceSet.objects.create(
        lab=world.uib,
        name="GBM cultures",
        version=2,
        scores={"Palbociclib": [10.0, 20.0], "Lomustine": [5.0]},
    )
    request, upload, run = analysed(world)
    assert run.reference_set.name == "GBM cultures"
    palbo = DrugResult.objects.get(run=run, drug_name="Palbociclib")
    assert palbo.selective_dss == pytest.approx(palbo.dss2 - 15.0)
    assert DrugResult.objects.get(run=run, drug_name="Afatinib").selective_dss is None


def test_a_report_is_signed_with_the_password_and_then_only_versioned():
    world = make_world()
    request, upload, run = analysed(world)
    with pytest.raises(ValidationError, match="interpretation"):
        draft = services.report_save(screening_request=request, by=world.lab, interpretation="")
        services.report_sign(report=draft, by=world.lab, password="demo-password-nbtc")
    draft = Report.objects.get(request=request)
    draft = services.report_save(
        screening_request=request,
        by=world.lab,
        interpretation="CDK4/6 inhibitors stand out.",
        expected_version=draft.version,
    )
    with pytest.raises(EditConflict):
        services.report_save(
            screening_request=request, by=world.lab, interpretation="stale", expected_version=1
        )
    with pytest.raises(ValidationError, match="password is not right"):
        services.report_sign(report=draft, by=world.lab, password="wrong")
    with pytest.raises(PermissionDenied):
        services.report_sign(report=draft, by=world.clinician, password="x")
    from tests.conftest import PASSWORD

    released = services.report_sign(report=draft, by=world.lab, password=PASSWORD)
    assert released.status == "released" and released.signed_by == world.lab
    request.refresh_from_db()
    assert request.state == State.REPORTED
    with pytest.raises(ValidationError, match="already released"):
        services.report_sign(report=released, by=world.lab, password=PASSWORD)
    second = services.report_save(
        screening_request=request, by=world.lab, interpretation="Adds the rerun."
    )
    assert second.number == 2 and second.status == "draft"
    released.refresh_from_db()
    assert released.interpretation == "CDK4/6 inhibitors stand out."  # version 1 unchanged
    services.report_sign(report=second, by=world.lab, password=PASSWORD)
    assert list(Report.objects.filter(request=request).values_list("number", "status")) == [
        (2, "released"),
        (1, "released"),
    ]
