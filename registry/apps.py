from django.apps import AppConfig
from django.db.models.signals import post_migrate


class RegistryConfig(AppConfig):
    name = "registry"

    def ready(self):
        from . import history

        # The patient history's view over every app's event tables, as installed now.
        post_migrate.connect(history.create_view, sender=self, dispatch_uid="registry-history")
