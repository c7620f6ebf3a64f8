from django.apps import AppConfig


class TrialsConfig(AppConfig):
    name = "trials"

    def ready(self):
        from registry import panels
        from registry.signals import register_changed

        from . import views

        register_changed.connect(_patient_changed, dispatch_uid="trials.rematch_patient")
        panels.register("trials", render=views.patient_panel, order=30)
        from . import selectors

        panels.register_submit_check("trials", check=selectors.wanted_before_submit)
        from . import meeting_panels

        panels.register_meeting(
            "trials",
            render=meeting_panels.meeting_panel,
            summarise=meeting_panels.meeting_summary,
            order=30,
        )
        panels.register_plan_action(
            "trial", label="Refer to a trial", url=meeting_panels.referral_url
        )


def _patient_changed(sender, patient_id, episode_id=None, **kwargs):
    """The register sends this inside its transaction; the re-match is written to the
    outbox with the change and a worker runs it after commit (or, with the broker down,
    once the relay hands it over)."""
    from consortium.services import outbox_enqueue

    from .tasks import rematch_patient

    outbox_enqueue(rematch_patient, patient_id)
