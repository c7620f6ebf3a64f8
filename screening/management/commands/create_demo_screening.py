"""Demo screening requests in every state for demo patients (run after load_demo and
create_demo_data), so the lab dashboard of lab@demo.nbtc.no (UIB-LAB) is lively: some
waiting for review, shipments in transit (one near its window, one with a temperature
excursion), samples received this week, and a year of turnaround figures.

Everything goes through the services, so every row passes the rules; afterwards the
times are moved back (requests made days ago, samples collected hours ago), which only
a demo may do."""

import random
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from consortium.models import Institution, User
from registry.models import TumourEpisode
from screening import services
from screening.models import (
    DrugPanel,
    Receipt,
    RequestEvent,
    Sample,
    SampleType,
    ScreeningRequest,
    Shipment,
    ShipmentAlert,
    State,
    TemperatureReading,
)

# How many requests end in each state (a lab's plausible mix).
MIX = {
    State.REQUESTED: 4,
    State.ACCEPTED: 3,
    State.DECLINED: 2,
    State.SAMPLE_COLLECTED: 2,
    State.IN_TRANSIT: 3,
    State.RECEIVED: 3,
    State.REJECTED: 2,
    State.IN_CULTURE: 3,
    State.SCREENING: 2,
    State.REPORTED: 4,
    State.CANCELLED: 2,
}
PATHS = {
    State.REQUESTED: [],
    State.ACCEPTED: ["accept"],
    State.DECLINED: ["decline"],
    State.CANCELLED: ["cancel"],
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
}


class Command(BaseCommand):
    help = "Demo screening requests in every state for demo patients (after create_demo_data)."

    def add_arguments(self, parser):
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument(
            "--if-empty", action="store_true", help="do nothing when any request exists"
        )
        parser.add_argument(
            "--reset", action="store_true", help="delete all screening requests first (demo only)"
        )

    def handle(self, *args, seed, if_empty, reset, **options):
        if not settings.ALLOW_SYNTHETIC_NATIONAL_IDS:
            raise CommandError(
                "Demo data only where synthetic IDs are allowed (DJANGO_DEBUG=1 or "
                "NBTC_ALLOW_SYNTHETIC_IDS=1)."
            )
        if reset:
            _delete_all()
        if if_empty and ScreeningRequest.objects.exists():
            self.stdout.write("Screening requests exist; nothing added.")
            return
        try:
            clinician = User.objects.get(email="clinician@demo.nbtc.no")
            lab = User.objects.get(email="lab@demo.nbtc.no")
        except User.DoesNotExist:
            raise CommandError(
                "Run load_demo first (clinician@demo.nbtc.no and lab@demo.nbtc.no)."
            ) from None
        episodes = list(
            TumourEpisode.objects.filter(patient__institutions__code="OUS")
            .exclude(patient__synthetic_id="")
            .order_by("pk")[: sum(MIX.values())]
        )
        if len(episodes) < sum(MIX.values()):
            raise CommandError("Not enough demo patients at OUS; run create_demo_data first.")
        rng = random.Random(seed)  # noqa: S311 - seeded demo data, the same every run
        made = _make(rng, clinician, lab, episodes)
        self.stdout.write(self.style.SUCCESS(f"Created {made} screening requests for UIB-LAB."))
        reported = _results(lab, seed=seed)
        self.stdout.write(
            self.style.SUCCESS(f"Plate results and a signed report for request {reported.pk}.")
        )


@transaction.atomic
def _results(lab: User, *, seed: int) -> ScreeningRequest:
    """One request in screening gets two synthetic 384-well plates (known curves,
    screening/synthetic.py), its analysis (run here, not by a worker, so the demo needs
    no Celery), and a report signed with the demo password: reported, with results."""
    from consortium.management.commands.load_demo import DEMO_PASSWORD
    from screening import synthetic
    from screening.library import DRUGS
    from screening.models import AnalysisRun

    request = (
        ScreeningRequest.objects.filter(lab__code="UIB-LAB", state=State.SCREENING)
        .order_by("pk")
        .first()
    )
    layout, grids, _ = synthetic.screen([name for name, _, _ in DRUGS], plates=2, seed=seed + 6)
    upload = services.plate_upload(
        screening_request=request,
        by=lab,
        layout=("demo-layout.csv", layout),
        readouts=[("demo-readout.csv", synthetic.grid_export(grids))],
        save_template_as="FIMM 384, two plates (demo)",
    )
    run = AnalysisRun.objects.get(upload=upload)
    services.analysis_run(run_id=run.pk)
    report = services.report_save(
        screening_request=request,
        by=lab,
        interpretation=(
            "Demo: the culture responds to several targeted drugs; see the top-ranked drugs and "
            "their curves. "
            "Standard alkylating agents score low, as in the reference cultures."
        ),
    )
    services.report_sign(report=report, by=lab, password=DEMO_PASSWORD)
    return request


@transaction.atomic
def _delete_all() -> None:
    from consortium.models import InboxItem
    from screening.models import PlateLayoutTemplate, PlateUpload, Report

    InboxItem.objects.filter(key__startswith="screening.").delete()  # their notices
    Report.objects.all().delete()
    PlateUpload.objects.all().delete()  # plates, wells, runs and results go with it
    PlateLayoutTemplate.objects.all().delete()
    ShipmentAlert.objects.all().delete()
    TemperatureReading.objects.all().delete()
    Receipt.objects.all().delete()
    Shipment.objects.all().delete()
    Sample.objects.all().delete()
    RequestEvent.objects.all().delete()
    for request in ScreeningRequest.objects.all():
        request.drugs.clear()
    ScreeningRequest.objects.all().delete()


@transaction.atomic
def _make(rng: random.Random, clinician: User, lab: User, episodes: list) -> int:
    uib, ous = Institution.objects.get(code="UIB-LAB"), Institution.objects.get(code="OUS")
    panels = list(DrugPanel.objects.filter(lab=uib))
    fresh, suspension = (
        SampleType.objects.get(code="fresh_tissue"),
        SampleType.objects.get(code="cell_suspension"),
    )
    now = timezone.now()
    made = 0
    targets = [state for state, n in MIX.items() for _ in range(n)]
    for episode, state in zip(episodes, targets, strict=False):
        later = state in (State.IN_CULTURE, State.SCREENING, State.REPORTED, State.REJECTED)
        # Requested 2-80 days ago (further back the further along); collected accordingly.
        age = timedelta(
            days=rng.randint(40, 80) if later else rng.randint(2, 12), hours=rng.randint(0, 20)
        )
        recent_receipt = state == State.RECEIVED or rng.random() < 0.3
        request = services.request_create(
            by=clinician,
            episode=episode,
            lab=uib,
            indication=rng.choice(
                [
                    "Recurrent glioblastoma after Stupp; looking for a second-line option.",
                    "Newly diagnosed glioblastoma, IDH-wildtype, MGMT unmethylated.",
                    "Progressive astrocytoma, IDH-mutant, after radiotherapy.",
                ]
            ),
            planned_surgery_date=(now - age + timedelta(days=5)).date(),
            surgery_hospital=ous,
            panel=rng.choice(panels),
            priority=rng.choice(["routine", "routine", "urgent"]),
            consent_date=(now - age - timedelta(days=1)).date(),
            consent_form_version="NBTC-DS v2.1",
            consent_scope=rng.choice(["screening", "screening_biobank"]),
        )
        created_at = now - age
        ScreeningRequest.objects.filter(pk=request.pk).update(created_at=created_at)
        RequestEvent.objects.filter(request=request).update(at=created_at)
        steps = PATHS[state]
        # The sample is collected so that what follows fits before now.
        in_transit_hours = {0: 3, 1: 19, 2: 8}.get(made % 3, 5)
        collected = (
            now - timedelta(hours=in_transit_hours)
            if state == State.IN_TRANSIT
            else now - timedelta(hours=rng.randint(9, 20))
            if state == State.RECEIVED
            else now - timedelta(days=rng.randint(1, 4), hours=6)
            if recent_receipt or state not in (State.IN_CULTURE, State.SCREENING, State.REPORTED)
            else created_at + timedelta(days=rng.randint(4, 8))
        )
        accepted_at = created_at + timedelta(hours=rng.randint(3, 40))
        for step in steps:
            request.refresh_from_db()
            sample = request.samples.order_by("-id").first()
            if step == "accept":
                services.request_transition(
                    screening_request=request,
                    to=State.ACCEPTED,
                    by=lab,
                    expected_sample_date=(created_at + timedelta(days=5)).date(),
                    note="Capacity available.",
                )
                RequestEvent.objects.filter(request=request, to_state=State.ACCEPTED).update(
                    at=accepted_at
                )
            elif step == "decline":
                services.request_transition(
                    screening_request=request,
                    to=State.DECLINED,
                    by=lab,
                    note="No capacity for this panel this month.",
                )
            elif step == "cancel":
                services.request_transition(
                    screening_request=request,
                    to=State.CANCELLED,
                    by=clinician,
                    note="Surgery cancelled.",
                )
            elif step == "sample":
                services.sample_register(
                    screening_request=request,
                    by=clinician,
                    sample_type=rng.choice([fresh, fresh, suspension]),
                    amount=Decimal(rng.randint(40, 250)),
                    amount_unit="mg",
                    medium="Hibernate-A",
                    collected_at=collected,
                )
            elif step == "ship":
                shipment = services.shipment_dispatch(
                    sample=sample,
                    by=clinician,
                    packaging="un3373_cold",
                    courier="Bring Express",
                    tracking_reference=f"BX-{rng.randint(10000, 99999)}",
                    dispatched_at=collected + timedelta(minutes=40),
                    expected_arrival=collected + timedelta(hours=7),
                )
                _trace(rng, shipment, clinician, collected, excursion=made % 4 == 1, until=now)
                services.handover_add(
                    shipment=shipment,
                    by=clinician,
                    giver="Nurse on duty, neurosurgery",
                    receiver="Bring courier",
                    place="OUS Rikshospitalet",
                    at=collected + timedelta(minutes=40),
                )
            elif step in ("receive", "reject"):
                arrived = min(
                    collected + timedelta(hours=rng.uniform(5, 9)), now - timedelta(minutes=5)
                )
                services.handover_add(
                    shipment=sample.shipment,
                    by=lab,
                    giver="Bring courier",
                    receiver="Lab reception, UIB",
                    place="BBB building, Bergen",
                    at=arrived,
                )
                services.receipt_record(
                    sample=sample,
                    by=lab,
                    arrived_at=arrived,
                    condition="intact" if step == "receive" else "warm",
                    arrival_celsius=Decimal(str(round(rng.uniform(3, 7), 1)))
                    if step == "receive"
                    else Decimal("14.0"),
                    accepted=step == "receive",
                    viable_cell_count=rng.randint(800_000, 6_000_000),
                    viability_percent=Decimal(str(round(rng.uniform(62, 95), 1))),
                    rejection_reason=""
                    if step == "receive"
                    else "Cooling lost in transit; viability too low.",
                )
            else:
                services.request_transition(screening_request=request, to=step, by=lab)
                receipt_at = (
                    Receipt.objects.filter(sample__request=request).latest("arrived_at").arrived_at
                )
                offset = {
                    State.IN_CULTURE: timedelta(hours=2),
                    State.SCREENING: timedelta(days=35),
                    State.REPORTED: timedelta(days=rng.randint(40, 50)),
                }[step]
                RequestEvent.objects.filter(request=request, to_state=step).update(
                    at=min(receipt_at + offset, now)
                )
        made += 1
    services.shipments_check(now=now)  # alerts for the shipments in transit
    return made


def _trace(rng, shipment, by, collected, *, excursion: bool, until) -> None:
    """A logger's readings every 10 minutes from dispatch, cold; one run of warm ones."""
    at, rows = collected + timedelta(minutes=40), []
    end = min(collected + timedelta(hours=7), until)
    n = 0
    while at <= end:
        value = rng.uniform(3.5, 6.5)
        if excursion and 12 <= n <= 14:
            value = rng.uniform(9, 11.5)
        rows.append(
            TemperatureReading(
                shipment=shipment, at=at, celsius=Decimal(str(round(value, 1))), entered_by=by
            )
        )
        at += timedelta(minutes=10)
        n += 1
    TemperatureReading.objects.bulk_create(rows, ignore_conflicts=True)
