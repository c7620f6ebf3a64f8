"""A web worker's warm-up (consortium/wsgi.py runs it at the worker's start): its first
request must not load the URLconf, build the reverse maps or compile the templates."""

from pathlib import Path

from django.conf import settings
from django.template import engines
from django.urls import get_resolver, reverse

from consortium.warmup import warm_up


def test_the_warm_up_compiles_every_template_and_reverse_map():
    loader = engines["django"].engine.template_loaders[0]  # the cached loader, as production
    loader.reset()
    project = sorted((Path(settings.BASE_DIR) / "templates").rglob("*.html"))
    assert len(project) > 50
    assert warm_up() > len(project)  # the project's and the form widgets'
    cached = set(loader.get_template_cache)
    for path in project:
        assert path.relative_to(Path(settings.BASE_DIR) / "templates").as_posix() in cached
    trials = get_resolver().namespace_dict["trials"][1]
    assert trials._populated  # the namespace's reverse map built
    assert reverse("trials:match_detail", args=[5]) == "/trials/matches/5/"


def test_the_wsgi_application_warms_up_before_its_first_request():
    source = (Path(settings.BASE_DIR) / "consortium" / "wsgi.py").read_text()
    assert source.index("get_wsgi_application()") < source.index("warm_up(freeze=True)")
