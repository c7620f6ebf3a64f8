"""A tumour board with everything the prepared patient page shows: the screening test
world's patient (OUS) with a released screening report (the two-plate results, analysed
and signed through the services), a candidate trial matched by the engine, and a
meeting at OUS with the patient on its agenda."""

from dataclasses import dataclass

from registry import meeting_services
from registry.models import MdtAgendaItem, MdtMeeting, MolecularMarker
from screening import services as screening_services
from screening.models import Report
from tests.conftest import PASSWORD
from tests.registry.meeting_factories import meeting
from tests.screening.factories import World, analysed, make_world
from tests.trials.factories import GBM, tree, trial
from trials import engine
from trials.models import Match, Trial


@dataclass
class Board:
    world: World
    meeting: MdtMeeting
    item: MdtAgendaItem
    report: Report
    trial: Trial
    match: Match


def released_report(world: World) -> Report:
    request, _, _ = analysed(world)
    report = screening_services.report_save(
        screening_request=request,
        by=world.lab,
        interpretation="Palbociclib stands out.",
        top_drugs=3,
    )
    return screening_services.report_sign(report=report, by=world.lab, password=PASSWORD)


def make_board(*, with_totp: bool = False, **meeting_times) -> Board:
    world = make_world(with_totp=with_totp)
    MolecularMarker.objects.create(episode=world.episode, marker="mgmt", result="altered")
    report = released_report(world)
    # MGMT-methylated glioblastoma, ECOG 0-1 (the register has none yet: to test), and an item
    # to check by hand.
    criteria = tree(
        {"type": "diagnosis", "codes": [GBM]},
        {"type": "marker", "marker": "mgmt", "result": "altered"},
        {"type": "performance", "scale": "ecog", "max": 1},
        by_hand=["Adequate bone marrow function"],
    )
    candidate = trial(criteria, norwegian=True, title="MGMT-methylated GBM study")
    engine.match_patient(world.patient.pk)
    board = meeting(world.clinician, **meeting_times) if meeting_times else None
    item = (
        meeting_services.agenda_item_add(
            meeting=board,
            by=world.clinician,
            episode_id=world.episode.pk,
            question="Recurrence after Stupp: which option?",
        )
        if board
        else None
    )
    return Board(world, board, item, report, candidate, Match.objects.get(trial=candidate))
