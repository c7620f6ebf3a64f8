"""PlainSelect writes the element forms.Select renders from its templates, and every list's
filter form uses it."""

import pytest
from django import forms
from django.http import QueryDict
from django.test.html import parse_html

from consortium.filters import InboxFilter, MemberFilter
from consortium.models import Institution
from consortium.widgets import PlainSelect
from registry.filters import AccessLogFilter, HistoryFilter, PatientFilter, WorklistFilter
from screening.filters import RequestFilter
from tests.conftest import make_member

GROUPED = [
    ("", "Any"),
    ("Gliomas", [("gbm", "Glioblastoma, IDH-wildtype"), ("a&b", 'A "quoted" <b>')]),
    ("plain", "Ungrouped <i>"),
]


def assert_same_as_django(widget: PlainSelect, name: str, value, attrs=None):
    django_select = forms.Select(attrs=widget.attrs, choices=widget.choices)
    ours = widget.render(name, value, attrs)
    assert parse_html(ours) == parse_html(django_select.render(name, value, attrs)), ours
    return ours


@pytest.mark.parametrize("value", [None, "", "gbm", "a&b", "plain", "not a choice"])
def test_option_groups_escaping_and_the_chosen_option_match_django(value):
    html = assert_same_as_django(
        PlainSelect(choices=GROUPED, attrs={"class": "x"}),
        "diagnosis",
        value,
        {"id": "id_diagnosis", "required": True},
    )
    assert "<script" not in html and "&lt;b&gt;" in html
    # None is the empty choice, as in Django; a value that is no choice selects nothing.
    assert ("selected" in html) == (value in (None, "", "gbm", "a&b", "plain"))


def test_a_model_choice_field_renders_as_django_does(db):
    field = forms.ModelChoiceField(Institution.objects.order_by("code"), to_field_name="code")
    field.widget = PlainSelect(choices=field.widget.choices)
    assert_same_as_django(field.widget, "institution", "OUS", {"id": "id_institution"})


@pytest.mark.parametrize(
    "filterset, data",
    [
        (PatientFilter, {"diagnosis": "glioblastoma_idh_wildtype", "institution": "OUS"}),
        (WorklistFilter, {}),
        (AccessLogFilter, {}),
        (HistoryFilter, {}),
        (MemberFilter, {"active": "true"}),
        (InboxFilter, {"unread": "false"}),
        (RequestFilter, {}),
    ],
)
def test_every_list_filter_writes_its_selects_in_python(db, rf, filterset, data):
    request = rf.get("/")
    request.user = make_member("admin")
    form = filterset(QueryDict(mutable=True) | data, request=request).form
    selects = [f for f in form if isinstance(f.field.widget, forms.Select)]
    assert selects, "the filter form has a select"
    for bound in selects:
        assert type(bound.field.widget) is PlainSelect, bound.name
        django_select = forms.Select(
            attrs=bound.field.widget.attrs, choices=bound.field.widget.choices
        )
        assert parse_html(bound.as_widget()) == parse_html(bound.as_widget(widget=django_select))


def test_fixed_choices_written_once_still_select_each_requests_value():
    """A select of fixed choices is written once per chosen value (kept between requests):
    each render selects its own value, and a new label is a new select."""
    widget = PlainSelect(choices=GROUPED)
    for value in ("gbm", "plain", "gbm", None):
        assert_same_as_django(widget, "diagnosis", value)
    relabelled = PlainSelect(choices=[("", "Any"), ("plain", "Renamed")])
    assert "Renamed" in relabelled.render("diagnosis", "plain")
