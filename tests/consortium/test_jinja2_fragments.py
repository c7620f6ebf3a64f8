"""The Jinja2 fragments (consortium/jinja2.py) of the patient page and the patient list:
every value escaped as in Django's templates, the same filters, and a name the template
does not have is an error, not an empty string."""

import jinja2
import pytest
from django.template import engines

from consortium.jinja2 import render_fragment
from consortium.models import Role
from registry.models import Patient
from tests.conftest import make_member, sign_in
from tests.registry.test_registry_pages import register

NAME = 'Kari <script>alert("x")</script> Nordmann'


@pytest.fixture
def clinician_client(client, db):
    sign_in(client, make_member(Role.CLINICIAN, institutions=("OUS",), with_totp=True))
    return client


def test_the_patient_page_and_list_escape_what_was_typed(clinician_client):
    assert register(clinician_client, full_name=NAME).status_code == 302
    patient = Patient.objects.get()
    escaped = "Kari &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; Nordmann"
    for url in (patient.get_absolute_url(), "/registry/"):
        page = clinician_client.get(url).content.decode()
        assert "<script>alert" not in page, url
        assert escaped in page, url
    # The page's dates through the same filter as {% load nbtc %}'s: dd.mm.yyyy.
    page = clinician_client.get(patient.get_absolute_url()).content.decode()
    assert f"<dd>{patient.birth_date:%d.%m.%Y}</dd>" in page


def test_a_name_the_fragment_does_not_have_is_an_error():
    template = engines["jinja2"].from_string("{{ patient.full_nmae }}")
    with pytest.raises(jinja2.UndefinedError):
        template.render({"patient": Patient(full_name="Kari")})
    with pytest.raises(jinja2.UndefinedError):
        render_fragment("registry/patient_list_rows.html", {})


def test_a_fragment_is_placed_as_html_but_its_values_are_escaped():
    html = engines["jinja2"].from_string("<b>{{ name }}</b>").render({"name": "<i>"})
    assert html == "<b>&lt;i&gt;</b>"
