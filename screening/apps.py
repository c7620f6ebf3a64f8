from django.apps import AppConfig


class ScreeningConfig(AppConfig):
    name = "screening"
    verbose_name = "Drug screening"

    def ready(self) -> None:
        from registry import panels

        from .panels import patient_panel

        panels.register("screening", render=patient_panel, order=20)
        from . import meeting_panels

        panels.register_meeting(
            "screening",
            render=meeting_panels.meeting_panel,
            summarise=meeting_panels.meeting_summary,
            order=20,
        )
        panels.register_plan_action(
            "screening", label="Request a drug screen", url=meeting_panels.request_url
        )
