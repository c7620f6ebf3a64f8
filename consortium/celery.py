"""The Celery app: settings come from Django settings prefixed CELERY_; each app keeps
its tasks in tasks.py (cookiecutter-django's layout)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "consortium.settings")

app = Celery("consortium")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
