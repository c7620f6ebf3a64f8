from django.apps import AppConfig


class ScreeningConfig(AppConfig):
    name = "screening"
    verbose_name = "Drug screening"

    def ready(self) -> None:
        from registry import panels

        from .panels import patient_panel

        panels.register("screening", render=patient_panel, order=20)
