"""The error summary every form shows after a failed submit (consortium/templatetags/a11y.py):
one box, role=alert and focusable (tabindex=-1), listing each problem with a link to its
field; nothing for a form not yet submitted or without errors. And every template of the
site compiles, so a page whose {% load %} was forgotten fails here, not in front of a member."""

from pathlib import Path

from django import forms
from django.template import engines
from django.template.loader import get_template

from tests.conftest import REPO_ROOT


class VisitForm(forms.Form):
    assessed_on = forms.DateField(label="Assessed on")
    ecog = forms.IntegerField(label="ECOG", min_value=0, max_value=5)
    version = forms.IntegerField(widget=forms.HiddenInput)

    def clean(self):
        raise forms.ValidationError("The episode changed meanwhile.")


def render(*forms_, links=True) -> str:
    template = engines["django"].from_string(
        "{% load a11y %}{% error_summary first second links=links %}"
    )
    first, second = (list(forms_) + [None, None])[:2]
    return template.render({"first": first, "second": second, "links": links})


def test_a_failed_form_lists_each_problem_linked_to_its_field():
    html = render(VisitForm({"assessed_on": "31.02.2026", "ecog": "7"}))
    assert '<div class="error-summary" role="alert" tabindex="-1">' in html
    assert "<h2>There is a problem</h2>" in html
    assert "<li>The episode changed meanwhile.</li>" in html
    assert '<a href="#id_assessed_on">Assessed on: Enter a valid date.</a>' in html
    assert '<a href="#id_ecog">ECOG: Ensure this value is less than or equal to 5.</a>' in html
    # A hidden field has nowhere to go: its problem is listed without a link.
    assert "<li>Version: This field is required.</li>" in html
    # In field order, the form's own problem first.
    assert html.index("meanwhile") < html.index("Assessed on") < html.index("ECOG")


def test_without_links_where_the_page_writes_its_own_inputs():
    html = render(VisitForm({"assessed_on": "", "ecog": "1", "version": "1"}), links=False)
    assert "<li>Assessed on: This field is required.</li>" in html
    assert "href=" not in html


def test_nothing_before_a_submit_or_without_errors():
    class Valid(forms.Form):
        name = forms.CharField()

    assert render(VisitForm()).strip() == ""
    assert render(Valid({"name": "Kari"})).strip() == ""


def test_a_formset_and_a_second_form_are_summed_up_together():
    Rows = forms.formset_factory(VisitForm, extra=0)
    rows = Rows(
        {
            "form-TOTAL_FORMS": "1",
            "form-INITIAL_FORMS": "0",
            "form-0-assessed_on": "2026-01-05",
            "form-0-ecog": "9",
            "form-0-version": "1",
        }
    )
    html = render(rows, VisitForm({"assessed_on": "x", "ecog": "1", "version": "1"}))
    assert '<a href="#id_form-0-ecog">ECOG: Ensure' in html
    assert '<a href="#id_assessed_on">Assessed on: Enter a valid date.</a>' in html
    assert html.count('class="error-summary"') == 1


def test_every_template_compiles():
    root = REPO_ROOT / "templates"
    names = [p.relative_to(root).as_posix() for p in Path(root).rglob("*.html")]
    assert len(names) > 90
    for name in names:
        get_template(name)  # raises TemplateSyntaxError naming the template
