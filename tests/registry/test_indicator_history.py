"""An indicator snapshot can be reproduced: recomputed from the change history as of its
data's moment, it gives its stored cells, whatever changed in the register since, and a
transaction that was still open when the snapshot was taken stays out of it."""

import io
import threading
from datetime import date

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction

from consortium.models import Institution, Role
from registry import indicator_history, indicator_services
from registry.models import IndicatorCell, IndicatorSnapshot, Patient, Surgery
from registry.tasks import compute_indicator_snapshot
from tests.conftest import make_member
from tests.registry.indicator_cohorts import episode, hospital, patient, surgery

pytestmark = pytest.mark.django_db
CSV = "national_id,diagnosis_date,icd10,hospital\n"


def _snapshot() -> IndicatorSnapshot:
    snapshot = indicator_services.snapshot_request()
    compute_indicator_snapshot.apply(args=[snapshot.pk]).get()
    snapshot.refresh_from_db()
    assert snapshot.status == "done"
    return snapshot


def _stored(snapshot, code, year, place=None, *, region=""):
    c = IndicatorCell.objects.get(
        snapshot=snapshot,
        indicator=code,
        year=year,
        institution=hospital(place) if place else None,
        region=region,
        diagnosis_group="",
    )
    return c.numerator, c.denominator, c.left_out


def test_an_old_snapshot_is_reproduced_after_the_register_changed():
    admin = make_member(Role.ADMIN, institutions=(), with_totp=True)
    first, second = patient(), patient()
    e1 = episode(first, diagnosed=date(2024, 1, 3), status="complete")
    surgery(e1, date(2024, 1, 10))
    e2 = episode(second, diagnosed=date(2024, 2, 1))
    late = surgery(e2, date(2024, 2, 5))
    episode(patient(at=("HUS",)), reporting="HUS", diagnosed=date(2024, 3, 1), status="complete")
    indicator_services.notified_cases_import(
        by=admin, year=2024, text=CSV + f"{first.national_id},2024-01-03,C71.9,OUS\n"
    )
    old = _snapshot()
    # Worked by hand: OUS 2024 has two episodes, one complete; both glioblastomas operated
    # in 2024 and alive; two resections, neither with an MRI; the one notified case has a
    # complete report. HUS is in Helse Vest with one complete report.
    assert _stored(old, "coverage", 2024, "OUS") == (1, 2, {})
    assert _stored(old, "gbm_survival_1y", 2024, "OUS") == (2, 2, {})
    assert _stored(old, "postop_mri_72h", 2024, "OUS") == (0, 2, {})
    assert _stored(old, "coverage_notified", 2024, "OUS") == (1, 1, {})
    assert _stored(old, "coverage", 2024, region="west") == (1, 1, {})

    # The register changes afterwards: the draft is completed, the first patient died 51
    # days after the surgery, the second's surgery is deleted, a new draft is reported, HUS
    # is moved to another health region and the notified cases are imported anew.
    e2.status = "complete"
    e2.save()
    Patient.objects.filter(pk=first.pk).update(vital_status="dead", date_of_death=date(2024, 3, 1))
    Surgery.objects.filter(pk=late.pk).delete()
    episode(patient(), diagnosed=date(2024, 5, 1))
    Institution.objects.filter(code="HUS").update(health_region="central")
    indicator_services.notified_cases_import(
        by=admin,
        year=2024,
        text=CSV
        + f"{first.national_id},2024-01-03,C71.9,OUS\n{second.national_id},2024-02-01,C71.9,OUS\n",
    )
    new = _snapshot()
    assert _stored(new, "coverage", 2024, "OUS") == (2, 3, {})
    assert _stored(new, "gbm_survival_1y", 2024, "OUS") == (0, 1, {})
    assert _stored(new, "postop_mri_72h", 2024, "OUS") == (0, 1, {})
    assert _stored(new, "coverage_notified", 2024, "OUS") == (2, 2, {})
    assert _stored(new, "coverage", 2024, region="central") == (1, 1, {})

    # Recomputed from history, the old snapshot gives its old figures, every cell of them.
    again = indicator_history.snapshot_reproduce(old.pk)
    assert again.exact and again.agrees, again.differences
    assert again.cells == old.cells.count() > 0
    ous = hospital("OUS").pk
    assert again.recomputed[("coverage", 2024, ous, "", "")] == (1, 2, {})
    assert again.recomputed[("gbm_survival_1y", 2024, ous, "", "")] == (2, 2, {})
    assert again.recomputed[("postop_mri_72h", 2024, ous, "", "")] == (0, 2, {})
    assert again.recomputed[("coverage_notified", 2024, ous, "", "")] == (1, 1, {})
    assert again.recomputed[("coverage", 2024, None, "west", "")] == (1, 1, {})
    assert ("coverage", 2024, None, "central", "") not in again.recomputed
    # And the new one its new figures.
    assert indicator_history.snapshot_reproduce(new.pk).agrees
    # The comparison can fail: a stored cell altered by hand is named.
    IndicatorCell.objects.filter(
        snapshot=old,
        indicator="coverage",
        year=2024,
        institution=hospital("OUS"),
        diagnosis_group="",
    ).update(numerator=2)
    altered = indicator_history.snapshot_reproduce(old.pk)
    assert len(altered.differences) == 1
    assert "'coverage', 2024" in altered.differences[0] and "(2, 2, {})" in altered.differences[0]
    # The live tables are untouched by the rebuild.
    assert Patient.objects.count() == 4 and Surgery.objects.count() == 1


def test_a_snapshot_of_other_definitions_is_not_recomputed():
    episode(patient(), status="complete")
    old = _snapshot()
    out = io.StringIO()
    call_command("reproduce_indicator_snapshot", old.pk, stdout=out)
    assert f"All {old.cells.count()} cells reproduced (exactly)" in out.getvalue()
    IndicatorSnapshot.objects.filter(pk=old.pk).update(definitions_version="2025.9")
    with pytest.raises(ValueError, match="2025.9"):
        indicator_history.snapshot_reproduce(old.pk)
    with pytest.raises(CommandError, match="2025.9"):
        call_command("reproduce_indicator_snapshot", old.pk)


@pytest.mark.django_db(transaction=True)
def test_a_transaction_open_during_the_snapshot_stays_out_of_its_reproduction():
    """A report saved in a transaction that began before the snapshot and committed after
    it: its history event is older than the snapshot, yet the snapshot did not see it."""
    episode(patient(), diagnosed=date(2024, 1, 3), status="complete")
    holder = patient()
    started, release = threading.Event(), threading.Event()

    def slow_save():
        try:
            with transaction.atomic():
                episode(holder, diagnosed=date(2024, 2, 1))
                started.set()
                release.wait(30)
        finally:
            connection.close()

    thread = threading.Thread(target=slow_save)
    thread.start()
    assert started.wait(30)
    # A report committed meanwhile: its event id is higher than the open transaction's, so
    # the open one is a gap below the highest event the snapshot saw.
    episode(patient(at=("HUS",)), reporting="HUS", diagnosed=date(2024, 3, 1))
    snapshot = _snapshot()
    release.set()
    thread.join(30)
    assert _stored(snapshot, "coverage", 2024, "OUS") == (1, 1, {})
    assert _stored(snapshot, "coverage", 2024, "HUS") == (0, 1, {})
    again = indicator_history.snapshot_reproduce(snapshot.pk)
    assert again.agrees, again.differences
    assert again.recomputed[("coverage", 2024, hospital("OUS").pk, "", "")] == (1, 1, {})
    # Going by the events' times alone would have counted the late report.
    IndicatorSnapshot.objects.filter(pk=snapshot.pk).update(history_marks={})
    by_time = indicator_history.snapshot_reproduce(snapshot.pk)
    assert not by_time.exact
    assert by_time.recomputed[("coverage", 2024, hospital("OUS").pk, "", "")] == (1, 2, {})
