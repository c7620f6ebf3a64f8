import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "consortium.settings")
application = get_wsgi_application()

from consortium.warmup import warm_up  # noqa: E402 - needs the apps loaded above

warm_up(freeze=True)  # the URLconf, reverse maps and templates, before the first request
