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


# --- Tumour-board (MDT) meetings ----------------------------------------------------------
#
# The same one-way hook for the meeting pages. An app registers in its AppConfig.ready():
#
#     panels.register_meeting("trials", order=30, render=..., summarise=...)
#     panels.register_plan_action("trial", label="Refer to a trial", url=...)
#
# `render(request, item)` returns the HTML of the app's part of the prepared patient page
# of an agenda item (item.episode and item.patient loaded). `summarise(request, items)`
# returns {item.pk: "short text"} for the agenda's list, in a constant number of queries
# for the whole agenda. Both are called only after the register decided that the member
# sees this item (the register's own rules, or an invited member within the meeting's
# window) and wrote the access log: they show the meeting's view of the patient (not
# narrowed again to the member's own hospitals), and nothing the meeting does not show.
# `url(decision)` is where a decision with that plan continues (a prefilled form).


@dataclass(frozen=True)
class MeetingPanel:
    name: str
    order: int
    render: Callable
    summarise: Callable | None


@dataclass(frozen=True)
class PlanAction:
    plan: str
    label: str
    url: Callable


_meeting_panels: dict[str, MeetingPanel] = {}
_plan_actions: dict[str, PlanAction] = {}


def register_meeting(
    name: str, *, render: Callable, summarise: Callable | None = None, order: int = 50
) -> None:
    _meeting_panels[name] = MeetingPanel(name, order, render, summarise)


def register_plan_action(plan: str, *, label: str, url: Callable) -> None:
    _plan_actions[plan] = PlanAction(plan, label, url)


def _meeting_panels_in_order() -> list[MeetingPanel]:
    return sorted(_meeting_panels.values(), key=lambda p: p.order)


def render_meeting(request, item) -> list[str]:
    rendered = (panel.render(request, item) for panel in _meeting_panels_in_order())
    return [html for html in rendered if html]


def summarise_meeting(request, items) -> dict[int, list[str]]:
    """{item id: [each app's short text]} for the agenda."""
    found: dict[int, list[str]] = {item.pk: [] for item in items}
    if not items:
        return found
    for panel in _meeting_panels_in_order():
        if panel.summarise is None:
            continue
        for item_id, text in panel.summarise(request, items).items():
            if text and item_id in found:
                found[item_id].append(text)
    return found


def plan_actions(decision) -> list[tuple[str, str]]:
    """(label, url) of the follow-up forms the decision's plan opens (prefilled)."""
    return [
        (action.label, action.url(decision))
        for plan in decision.plan
        if (action := _plan_actions.get(plan)) is not None
    ]


# --- Before a report is submitted as complete -----------------------------------------------
#
# An app that reads the register may say what it would still like recorded before the
# report is locked: a criterion of a candidate trial that the register leaves unknown (a
# radiotherapy end date, say). The app registers in its AppConfig.ready():
#
#     panels.register_submit_check("trials", check=...)
#
# `check(user, episode)` returns a list of `Wanted`: `item` says what to record, `asked_by`
# who asks for it (e.g. "NCT01234567 Trial title"). It is called only after the register
# decided that the member edits this report, in a constant number of queries. It advises:
# a report is complete by the register's own rules (registry/rules.py `missing_items`); a
# trial's question does not keep it from being submitted.


@dataclass(frozen=True)
class Wanted:
    item: str
    asked_by: tuple[str, ...]
    app: str = ""


_submit_checks: dict[str, Callable] = {}


def register_submit_check(name: str, *, check: Callable) -> None:
    _submit_checks[name] = check


def wanted_before_submit(user, episode) -> list[Wanted]:
    found = []
    for name in sorted(_submit_checks):
        found += [
            Wanted(w.item, tuple(w.asked_by), w.app or name)
            for w in _submit_checks[name](user, episode)
        ]
    return found
