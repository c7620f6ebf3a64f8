"""After discarding a draft the browser goes back only to a page of this site: a `next`
pointing elsewhere (an open redirect) falls back to the patient's page."""

import pytest

from consortium.models import Role
from registry.models import FormDraft
from tests.conftest import make_member, sign_in
from tests.registry.factories import make_patient

pytestmark = pytest.mark.django_db


@pytest.fixture
def signed_in(client):
    clinician = make_member(
        Role.CLINICIAN, institutions=("OUS",), email="clin@ous.no", with_totp=True
    )
    patient = make_patient(clinician)
    sign_in(client, clinician)
    return client, clinician, patient


def _discard(client, clinician, patient, next_url):
    FormDraft.objects.create(
        user=clinician, patient=patient, form_key="episode-new", data={"diagnosis": "x"}
    )
    url = f"{patient.get_absolute_url()}drafts/episode-new/discard/"
    response = client.post(url, {"next": next_url})
    assert not FormDraft.objects.filter(user=clinician, patient=patient).exists()
    return response


@pytest.mark.parametrize(
    "next_url",
    [
        "https://evil.example/phish",
        "//evil.example/phish",
        "http://testserver.evil.example/",
        "/\\evil.example/",
        "javascript:alert(1)",
        "https:///evil.example/",
    ],
)
def test_a_next_to_another_site_falls_back_to_the_patient_page(signed_in, next_url):
    client, clinician, patient = signed_in
    response = _discard(client, clinician, patient, next_url)
    assert response.status_code == 302
    assert response["Location"] == patient.get_absolute_url()


def test_a_next_on_this_site_is_followed(signed_in):
    client, clinician, patient = signed_in
    back = f"{patient.get_absolute_url()}episodes/new/"
    response = _discard(client, clinician, patient, back)
    assert response["Location"] == back


def test_the_sign_in_redirect_carries_the_path_as_one_encoded_parameter():
    from django.test import RequestFactory

    from consortium.redirects import login_url_back_to

    request = RequestFactory().get("/registry/a b&next=//evil.example/")
    assert (
        login_url_back_to("/accounts/login/", request)
        == "/accounts/login/?next=/registry/a%20b%26next%3D//evil.example/"
    )
