"""What a web worker loads before its first request (consortium/wsgi.py), so that request
costs what every later one does: Django loads the URLconf (importing every view, serializer
and form module), builds each URL resolver's reverse map and compiles each URL pattern's
regular expression, compiles each template and opens the cache backend on first use.
Measured by `manage.py benchmark_matching`: the match queue's first page in a fresh process
took 1-2.5 s against 30-60 ms for the pages after it."""

import gc
import logging
from pathlib import Path

from django.conf import settings
from django.core.cache import caches
from django.forms.renderers import get_default_renderer
from django.template import TemplateSyntaxError, engines
from django.urls import NoReverseMatch, get_resolver, reverse

log = logging.getLogger(__name__)


def _reverse_each(resolver, namespace: str = "") -> int:
    """Reverse every named URL once (a "1" for each parameter), in every namespace: builds
    the reverse maps and compiles the patterns as the first page's links would."""
    done = 0
    for name in list(resolver.reverse_dict):
        if not isinstance(name, str):
            continue
        for possibilities, *_ in resolver.reverse_dict.getlist(name):
            for _, params in possibilities:
                try:
                    reverse(f"{namespace}{name}", kwargs=dict.fromkeys(params, "1"))
                    done += 1
                except (NoReverseMatch, ValueError, TypeError):
                    pass  # "1" does not fit its converter (a UUID, say): left for its page
    for inner, (_, sub) in resolver.namespace_dict.items():
        done += _reverse_each(sub, f"{namespace}{inner}:")
    return done


def _compile(engine, folder: Path) -> int:
    compiled = 0
    for path in sorted(folder.rglob("*.html")):
        try:
            engine.get_template(path.relative_to(folder).as_posix())
            compiled += 1
        except TemplateSyntaxError:
            log.exception("Template %s does not compile", path)
    return compiled


def warm_up(*, freeze: bool = False) -> int:
    """Load the URLconf, reverse each URL, open the cache backends and compile the project's
    templates and the form widgets' into the cached template loaders. Returns how many
    templates were compiled; one that does not compile is logged and left for its page to
    report, never stopping the worker.

    freeze: then move everything loaded so far out of the garbage collector's reach
    (gc.freeze, https://docs.python.org/3/library/gc.html#gc.freeze): it lives as long as
    the worker, and a full collection during a request would otherwise walk all of it
    (up to 200 ms of one queue page's CPU in benchmark_matching)."""
    get_resolver().url_patterns  # noqa: B018 - imports every view module
    _reverse_each(get_resolver())
    for alias in settings.CACHES:
        caches[alias]  # noqa: B018 - imports and builds the backend (connects on first use)
    compiled = 0
    base = Path(settings.BASE_DIR).resolve()
    for engine in engines.all():
        for folder in getattr(engine, "template_dirs", ()):
            folder = Path(folder).resolve()
            if folder.is_relative_to(base) and ".venv" not in folder.parts:
                compiled += _compile(engine, folder)  # the project's own, not every package's
    widgets = Path(__import__("django").__file__).parent / "forms" / "templates"
    compiled += _compile(get_default_renderer().engine, widgets)
    if freeze:
        gc.collect()
        gc.freeze()
    return compiled
