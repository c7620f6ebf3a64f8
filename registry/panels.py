"""Sections other apps add to the patient page, without the register importing them
(apps depend one way: consortium <- registry <- trials, screening).

An app registers a panel in its AppConfig.ready():

    from registry import panels
    panels.register("screening", order=20, render=screening_panel)

`render(request, patient)` returns HTML (a rendered template) or "" to show nothing. It is
called only for members who may see the patient, after the page has written the access
log; it must itself check what its app lets this member see. The patient page takes a
constant number of queries per panel, so a panel must not query per row."""

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Panel:
    name: str
    order: int
    render: Callable


_panels: dict[str, Panel] = {}


def register(name: str, *, render: Callable, order: int = 50) -> None:
    _panels[name] = Panel(name, order, render)


def render_all(request, patient) -> list[str]:
    rendered = (
        panel.render(request, patient) for panel in sorted(_panels.values(), key=lambda p: p.order)
    )
    return [html for html in rendered if html]
