"""What the tumour board signed stays what it reads: a released report's page and PDF are
frozen at signing, a draft made before newer results cannot be signed, the ranking never
mixes selective and plain DSS, and a redelivered analysis task leaves a running run to
the worker that has it."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from registry.models import MolecularMarker
from screening import services
from screening.models import AnalysisRun, DrugResult, LabQcSettings, Plate, ReferenceSet, Report
from screening.selectors import ranked_results
from tests.conftest import PASSWORD, sign_in
from tests.screening.factories import analysed, make_world

pytestmark = pytest.mark.django_db


def test_a_released_report_does_not_change_when_the_register_or_plates_do(client):
    world = make_world(with_totp=True)
    request, upload, run = analysed(world)
    report = services.report_save(
        screening_request=request, by=world.lab, interpretation="Palbociclib stands out."
    )
    services.report_sign(report=report, by=world.lab, password=PASSWORD)
    report.refresh_from_db()
    assert report.pdf_sha256 and bytes(report.pdf).startswith(b"%PDF")
    sign_in(client, world.clinician)
    page_before = client.get(f"/screening/reports/{report.pk}/").content.decode()
    pdf_before = client.get(f"/screening/reports/{report.pk}/pdf/").content

    # After signing: a marker result changes in the register and a plate gets a note.
    marker = MolecularMarker.objects.filter(
        episode=request.episode
    ).first() or MolecularMarker.objects.create(
        episode=request.episode, marker="mgmt", result="altered"
    )
    MolecularMarker.objects.filter(pk=marker.pk).update(
        result="wildtype" if marker.result != "wildtype" else "altered"
    )
    Plate.objects.filter(upload=upload).update(override_reason="Changed after signing")
    services.report_save(
        screening_request=request, by=world.lab, interpretation="A new draft, version 2."
    )

    page_after = client.get(f"/screening/reports/{report.pk}/").content.decode()
    assert client.get(f"/screening/reports/{report.pk}/pdf/").content == pdf_before
    body = lambda html: html[html.index('<dl class="facts">') : html.index("</main>")]  # noqa: E731
    assert body(page_after) == body(page_before)
    assert "Changed after signing" not in page_after and "Palbociclib stands out." in page_after


def test_a_draft_made_before_newer_results_cannot_be_signed():
    world = make_world()
    LabQcSettings.objects.create(
        lab=world.uib, z_prime_warn=0.99, z_prime_pass=0.995
    )  # every plate fails
    request, upload, run = analysed(world)
    draft = services.report_save(
        screening_request=request, by=world.lab, interpretation="Nothing scored yet."
    )
    rerun = services.plate_override(
        plate=upload.plates.get(name="P1"), by=world.lab, reason="Controls drifted."
    )
    services.analysis_run(run_id=rerun.pk)
    with pytest.raises(ValidationError, match="newer results"):
        services.report_sign(report=draft, by=world.lab, password=PASSWORD)
    resaved = services.report_save(
        screening_request=request, by=world.lab, interpretation="Now with P1 scored."
    )
    assert resaved.pk == draft.pk and resaved.run_id == rerun.pk
    assert (
        services.report_sign(report=resaved, by=world.lab, password=PASSWORD).status
        == Report.Status.RELEASED
    )


def test_drugs_the_reference_set_lacks_rank_after_those_it_has():
    world = make_world()
    ReferenceSet.objects.create(lab=world.uib, name="GBM cultures", scores={"Palbociclib": [95.0]})
    request, upload, run = analysed(world)
    ranked = [r for r in ranked_results(run) if r.dss2 is not None]
    palbo = next(r for r in ranked if r.drug_name == "Palbociclib")
    assert (
        palbo.selective_dss is not None and palbo.selective_dss < 0
    )  # less sensitive than the reference
    # A raw DSS2 never outranks a selective score: Palbociclib leads despite its negative sDSS.
    assert ranked[0] == palbo
    rest = ranked[1:]
    assert all(r.selective_dss is None for r in rest)
    assert [r.dss2 for r in rest] == sorted((r.dss2 for r in rest), reverse=True)


def test_a_redelivered_task_leaves_a_running_run_to_its_worker_and_takes_over_a_lost_one():
    world = make_world()
    request, upload, run = analysed(world)
    second = services.analysis_queue(upload=upload, by=world.lab)
    started = timezone.now() - timedelta(hours=1)
    AnalysisRun.objects.filter(pk=second.pk).update(
        status=AnalysisRun.Status.RUNNING,
        started_at=started,
        heartbeat_at=timezone.now() - timedelta(minutes=1),
    )
    services.analysis_run(run_id=second.pk)  # another worker is on it (it beats): nothing done
    second.refresh_from_db()
    assert second.status == "running" and second.started_at == started
    assert not DrugResult.objects.filter(run=second).exists()
    # No heartbeat for 3 minutes (2 is the limit): that worker was lost, the run taken over.
    AnalysisRun.objects.filter(pk=second.pk).update(
        heartbeat_at=timezone.now() - timedelta(minutes=3)
    )
    services.analysis_run(run_id=second.pk)
    second.refresh_from_db()
    assert second.status == "done" and DrugResult.objects.filter(run=second).count() == 30
