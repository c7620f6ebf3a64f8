import logging

from django.apps import AppConfig

logger = logging.getLogger(__name__)


class TrialsConfig(AppConfig):
    name = "trials"

    def ready(self):
        from registry import panels
        from registry.signals import register_changed

        from . import views

        register_changed.connect(_patient_changed, dispatch_uid="trials.rematch_patient")
        panels.register("trials", render=views.patient_panel, order=30)


def _patient_changed(sender, patient_id, episode_id=None, **kwargs):
    """The register sends this after commit; the worker re-matches the patient. With the
    broker unreachable the register's save stands (it is committed) and the nightly
    re-match catches the patient up; the failure is logged, not raised into the save."""
    from kombu.exceptions import OperationalError

    from .tasks import rematch_patient

    try:
        rematch_patient.delay(patient_id)
    except OperationalError:
        logger.exception("trials: could not queue the re-match of patient %s", patient_id)
