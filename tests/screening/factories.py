"""Helpers for screening tests: members of each part, a register patient with a tumour
episode, and requests brought to any state through the services (never straight into
the tables), so each helper exercises the rules it relies on."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.utils import timezone

from consortium.models import Institution, Role, User
from registry.models import Patient, TumourEpisode
from screening import services
from screening.models import DrugPanel, SampleType, ScreeningRequest, State
from tests.conftest import make_member
from tests.registry.factories import gbm_episode, make_patient


@dataclass
class World:
    clinician: User  # OUS, treats the patient
    coordinator: User  # OUS
    lab: User  # UIB-LAB, the chosen lab
    other_lab: User  # UIO-LAB
    other_clinician: User  # HUS, does not treat the patient
    researcher: User
    admin: User
    patient: Patient
    episode: TumourEpisode

    @property
    def uib(self) -> Institution:
        return Institution.objects.get(code="UIB-LAB")


def make_world(*, with_totp: bool = False) -> World:
    clinician = make_member(
        Role.CLINICIAN, institutions=("OUS",), email="clin@ous.no", with_totp=with_totp
    )
    patient = make_patient(clinician, full_name="Kari Nordmann")
    return World(
        clinician=clinician,
        coordinator=make_member(
            Role.COORDINATOR, institutions=("OUS",), email="coord@ous.no", with_totp=with_totp
        ),
        lab=make_member(
            Role.LAB_SCIENTIST, institutions=("UIB-LAB",), email="lab@uib.no", with_totp=with_totp
        ),
        other_lab=make_member(
            Role.LAB_SCIENTIST, institutions=("UIO-LAB",), email="lab@uio.no", with_totp=with_totp
        ),
        other_clinician=make_member(
            Role.CLINICIAN, institutions=("HUS",), email="clin@hus.no", with_totp=with_totp
        ),
        researcher=make_member(Role.RESEARCHER, institutions=("UIO-ICR",), email="res@uio.no"),
        admin=make_member(
            Role.ADMIN, institutions=("OUS",), email="admin@nbtc.no", with_totp=with_totp
        ),
        patient=patient,
        episode=gbm_episode(patient, clinician),
    )


def panel(lab_code: str = "UIB-LAB", name: str = "Glioma standard of care") -> DrugPanel:
    return DrugPanel.objects.get(lab__code=lab_code, name=name)


def fresh_tissue() -> SampleType:
    return SampleType.objects.get(code="fresh_tissue")


def request_values(world: World, **overrides) -> dict:
    values = dict(
        by=world.clinician,
        episode=world.episode,
        lab=world.uib,
        indication="Recurrent glioblastoma after Stupp; no standard option left.",
        planned_surgery_date=timezone.localdate() + timedelta(days=7),
        surgery_hospital=Institution.objects.get(code="OUS"),
        panel=panel(),
        consent_date=timezone.localdate() - timedelta(days=1),
        consent_form_version="NBTC-DS v2.1",
        consent_scope=ScreeningRequest.ConsentScope.SCREENING_AND_BIOBANK,
    )
    values.update(overrides)
    return values


def make_request(world: World, **overrides) -> ScreeningRequest:
    return services.request_create(**request_values(world, **overrides))


def hours_ago(hours: float) -> datetime:
    return timezone.now() - timedelta(hours=hours)


def bring_to(world: World, state: str, *, collected_hours_ago: float = 6) -> ScreeningRequest:
    """A new request moved along the usual path up to `state` (declined, cancelled and
    rejected taken from their usual predecessor)."""
    request = make_request(world)
    path = {
        State.REQUESTED: [],
        State.ACCEPTED: ["accept"],
        State.DECLINED: ["decline"],
        State.SAMPLE_COLLECTED: ["accept", "sample"],
        State.IN_TRANSIT: ["accept", "sample", "ship"],
        State.RECEIVED: ["accept", "sample", "ship", "receive"],
        State.REJECTED: ["accept", "sample", "ship", "reject"],
        State.IN_CULTURE: ["accept", "sample", "ship", "receive", State.IN_CULTURE],
        State.SCREENING: ["accept", "sample", "ship", "receive", State.IN_CULTURE, State.SCREENING],
        State.REPORTED: [
            "accept",
            "sample",
            "ship",
            "receive",
            State.IN_CULTURE,
            State.SCREENING,
            State.REPORTED,
        ],
        State.CANCELLED: ["cancel"],
    }[state]
    for step in path:
        request.refresh_from_db()
        if step == "accept":
            services.request_transition(
                screening_request=request,
                to=State.ACCEPTED,
                by=world.lab,
                expected_sample_date=timezone.localdate() + timedelta(days=7),
            )
        elif step == "decline":
            services.request_transition(
                screening_request=request, to=State.DECLINED, by=world.lab, note="No capacity."
            )
        elif step == "cancel":
            services.request_transition(
                screening_request=request,
                to=State.CANCELLED,
                by=world.clinician,
                note="Surgery cancelled.",
            )
        elif step == "sample":
            services.sample_register(
                screening_request=request,
                by=world.clinician,
                sample_type=fresh_tissue(),
                amount=Decimal("120"),
                amount_unit="mg",
                medium="Hibernate-A",
                collected_at=hours_ago(collected_hours_ago),
            )
        elif step == "ship":
            sample = request.samples.get()
            services.shipment_dispatch(
                sample=sample,
                by=world.clinician,
                packaging="un3373_cold",
                courier="Bring Express",
                tracking_reference="BX123",
                dispatched_at=sample.collected_at + timedelta(hours=1),
                expected_arrival=sample.collected_at + timedelta(hours=8),
            )
        elif step in ("receive", "reject"):
            sample = request.samples.get()
            services.receipt_record(
                sample=sample,
                by=world.lab,
                arrived_at=timezone.now() - timedelta(seconds=1),
                condition="intact",
                arrival_celsius=Decimal("5.0"),
                accepted=step == "receive",
                viable_cell_count=2_400_000 if step == "receive" else None,
                viability_percent=Decimal("87.5") if step == "receive" else None,
                rejection_reason="" if step == "receive" else "Package leaked.",
            )
        else:
            services.request_transition(screening_request=request, to=step, by=world.lab)
    request.refresh_from_db()
    assert request.state == state
    return request


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


# --- Plate results --------------------------------------------------------------------------------

RESULTS_DATA = __import__("pathlib").Path(__file__).parent / "data"


def results_file(name: str) -> bytes:
    return (RESULTS_DATA / name).read_bytes()


def upload_two_plates(
    world: World,
    request: ScreeningRequest,
    *,
    readout: str = "readout_two_plates_grid.csv",
    **overrides,
):
    """The sample files (30 drugs, two 384-well plates) uploaded by the lab's scientist."""
    values = dict(
        screening_request=request,
        by=world.lab,
        layout=("layout_two_plates.csv", results_file("layout_two_plates.csv")),
        readouts=[(readout, results_file(readout))],
    )
    values.update(overrides)
    return services.plate_upload(**values)


def analysed(world: World, *, state: str = State.IN_CULTURE):
    """A request with the two-plate upload analysed (the task's body run here)."""
    from screening.models import AnalysisRun

    request = bring_to(world, state)
    upload = upload_two_plates(world, request)
    run = AnalysisRun.objects.get(upload=upload)
    services.analysis_run(run_id=run.pk)
    run.refresh_from_db()
    request.refresh_from_db()
    return request, upload, run
