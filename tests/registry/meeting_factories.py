"""Tumour-board meetings for the tests, through the services (so each helper runs the
rules it relies on): a meeting whose time is set relative to now (ongoing, over, to come),
register patients with a glioblastoma episode, and members of each hospital."""

from datetime import timedelta

from django.utils import timezone

from consortium.models import Institution, Role
from registry import meeting_services
from registry.models import MdtDiscipline, MdtMeeting
from tests.conftest import make_member
from tests.registry.factories import gbm_episode, make_patient


def hospital(code: str) -> Institution:
    return Institution.objects.get(code=code)


def meeting(
    by,
    *,
    code: str = "OUS",
    kind: str = MdtMeeting.Kind.LOCAL,
    starts_in: timedelta = timedelta(minutes=-30),
    lasts: timedelta = timedelta(hours=2),
    participants=(),
) -> MdtMeeting:
    """Starts `starts_in` from now (negative: has started), lasts `lasts`."""
    starts = timezone.now() + starts_in
    return meeting_services.meeting_schedule(
        by=by,
        institution=hospital(code),
        kind=kind,
        starts_at=starts,
        ends_at=starts + lasts,
        title="Neuro-oncology MDT",
        participants=participants,
    )


ONGOING = {"starts_in": timedelta(minutes=-30), "lasts": timedelta(hours=2)}
OVER = {"starts_in": timedelta(hours=-5), "lasts": timedelta(hours=1)}
TOMORROW = {"starts_in": timedelta(days=1), "lasts": timedelta(hours=1)}


def patient_with_episode(by, *, name: str = "Kari Nordmann", codes=("OUS",)):
    patient = make_patient(by, full_name=name, institution_codes=codes)
    return patient, gbm_episode(patient, by)


def clinician(code: str, email: str, *, totp: bool = False):
    return make_member(Role.CLINICIAN, institutions=(code,), email=email, with_totp=totp)


def oncologist_board(by):
    return [(by, MdtDiscipline.ONCOLOGY)]
