"""Requesting a screen: only clinicians of the patient's institutions; no consent, no
request (the refusal names the consent fields); a panel or drugs of the chosen lab."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from consortium.models import InboxItem, Institution
from screening import services
from screening.models import Drug, State
from tests.screening.factories import make_request, make_world, panel, request_values


@pytest.mark.django_db
def test_it_refuses_a_request_without_consent_naming_the_consent_fields():
    world = make_world()
    with pytest.raises(ValidationError) as refused:
        make_request(world, consent_date=None, consent_form_version="", consent_scope="")
    fields = refused.value.message_dict
    assert {"consent_date", "consent_form_version", "consent_scope"} <= set(fields)
    assert "consent is required" in fields["consent_date"][0]
    assert not world.patient.screening_requests.exists()


@pytest.mark.django_db
def test_only_the_patients_clinicians_request():
    world = make_world()
    for outsider in (
        world.coordinator,
        world.lab,
        world.other_clinician,
        world.researcher,
        world.admin,
    ):
        with pytest.raises(PermissionDenied):
            make_request(world, by=outsider)
    request = make_request(world)
    assert request.state == State.REQUESTED
    assert request.transitions.get().to_state == State.REQUESTED
    # The lab hears of it, in the app (and by mail after commit).
    assert list(InboxItem.objects.values_list("recipient__email", flat=True)) == [world.lab.email]
    item = InboxItem.objects.get()
    assert (item.kind, item.url, item.patient_id) == (
        "screening",
        request.get_absolute_url(),
        request.patient_id,
    )
    assert request.patient.register_number in item.text and "Kari Nordmann" not in item.text


@pytest.mark.django_db
def test_the_panel_and_drugs_must_be_the_chosen_labs():
    world = make_world()
    with pytest.raises(ValidationError) as wrong_panel:
        make_request(world, panel=panel("UIO-LAB"))
    assert "not one of UIB-LAB's panels" in wrong_panel.value.message_dict["panel"][0]
    with pytest.raises(ValidationError) as foreign_drug:
        make_request(
            world, panel=None, drugs=[Drug.objects.get(lab__code="NTNU-LAB", name="Temozolomide")]
        )
    assert "Not in UIB-LAB's library: Temozolomide" in foreign_drug.value.message_dict["drugs"][0]
    with pytest.raises(ValidationError) as nothing:
        make_request(world, panel=None, drugs=[])
    assert "panel" in nothing.value.message_dict
    picked = make_request(
        world, panel=None, drugs=list(Drug.objects.filter(lab__code="UIB-LAB")[:3])
    )
    assert picked.drugs.count() == 3


@pytest.mark.django_db
def test_the_lab_must_be_a_lab_and_the_hospital_a_hospital():
    world = make_world()
    with pytest.raises(ValidationError) as refused:
        services.request_create(
            **request_values(
                world,
                lab=Institution.objects.get(code="HUS"),
                surgery_hospital=Institution.objects.get(code="UIB-LAB"),
                panel=None,
                drugs=[Drug.objects.filter(lab__code="UIB-LAB")[0]],
            )
        )
    assert "HUS is not a screening lab" in refused.value.message_dict["lab"][0]
    assert "UIB-LAB is not a hospital" in refused.value.message_dict["surgery_hospital"][0]


@pytest.mark.django_db
def test_the_library_is_seeded_for_every_lab():
    from screening.models import SampleType

    for code in ("UIB-LAB", "UIO-LAB", "NTNU-LAB", "UIT-LAB"):
        assert Drug.objects.filter(lab__code=code).count() >= 30
        assert panel(code).drugs.count() == 8
    fresh = SampleType.objects.get(code="fresh_tissue")
    assert (fresh.viability_hours, fresh.min_celsius, fresh.max_celsius, fresh.warning_percent) == (
        24,
        2,
        8,
        75,
    )
