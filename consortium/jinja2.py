"""The Jinja2 environment (settings.TEMPLATES' second engine, templates under jinja_templates/).

Most pages are Django templates. The parts of the busiest pages that repeat per row (the
patient page's tumour episodes and timeline, the patient list's rows) are Jinja2: it compiles
a template to Python code, which renders those rows several times faster than Django's
template engine walks its node tree (make bench-registry: the patient page spent more CPU
rendering its episodes than on all its SQL). The Django page takes the rendered fragment as
one value, so base.html, the menu and the messages stay in one place.

The filters are the same functions as `{% load nbtc %}`'s (consortium/formats.py), so a
date or a dose reads the same whichever engine wrote it. A name the template does not have
raises (StrictUndefined) instead of rendering as nothing, so a typo fails its test.
Jinja2: https://jinja.palletsprojects.com/en/stable/api/ ; Django's backend:
https://docs.djangoproject.com/en/stable/topics/templates/#django.template.backends.jinja2.Jinja2
"""

from django.template import engines
from django.urls import reverse
from django.utils.safestring import SafeString, mark_safe
from jinja2 import Environment, StrictUndefined

from consortium import formats


def url(name: str, *args) -> str:
    """url('registry:patient_edit', patient.register_number): {% url %}."""
    return reverse(name, args=args)


def environment(**options) -> Environment:
    options["undefined"] = StrictUndefined
    options.pop("autoescape", None)
    env = Environment(autoescape=True, **options)  # every value escaped, as in Django's
    env.filters.update(
        day=formats.local_day,
        local_datetime=formats.local_datetime,
        quantity=formats.quantity,
        amount=formats.amount,
        number=formats.number,
    )
    env.globals["url"] = url
    return env


def render_fragment(template_name: str, context: dict) -> SafeString:
    """A Jinja2 template's HTML, for a Django template to place as it is: Jinja2 escaped
    every value in it (autoescape, as Django's backend sets it)."""
    html = engines["jinja2"].get_template(template_name).render(context)
    return mark_safe(html)  # noqa: S308 - escaped by Jinja2's autoescape
