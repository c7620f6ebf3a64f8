"""The criteria editor grows one row at a time without a script: "Add a criterion row"
re-renders the form with what was entered and one more empty row, and saves nothing."""

import re

import pytest

from consortium.models import Role
from tests.conftest import make_member, sign_in
from tests.trials.factories import GBM, trial

pytestmark = pytest.mark.django_db


def test_add_a_row_keeps_the_rows_and_saves_nothing(client):
    sign_in(
        client,
        make_member(
            Role.COORDINATOR, institutions=("OUS",), with_totp=True, email="rows@example.no"
        ),
    )
    t = trial(None, encoded=False)
    page = client.get(f"/trials/{t.pk}/criteria/").content.decode()
    assert page.count('class="criterion-row"') == 1  # one empty row to start with
    assert 'name="add_row"' in page
    assert (
        not re.search(r"<script(?![^>]*\bsrc=)", page) and 'style="' not in page
    )  # the CSP: no inline script
    data = {
        "rows-TOTAL_FORMS": "1",
        "rows-INITIAL_FORMS": "0",
        "version": t.version,
        "check_by_hand": "Consent",
        "rows-0-must": "must",
        "rows-0-kind": "diagnosis",
        "rows-0-diagnoses": [GBM],
        "add_row": "1",
    }
    page = client.post(f"/trials/{t.pk}/criteria/", data)
    assert page.status_code == 200
    html = page.content.decode()
    assert html.count('class="criterion-row"') == 2
    assert 'name="rows-TOTAL_FORMS" value="2"' in html
    assert f'value="{GBM}" id="id_rows-0-diagnoses_' in html and "Consent" in html
    assert re.search(rf'name="rows-0-diagnoses" value="{GBM}"[^>]* checked', html)
    t.refresh_from_db()
    assert t.criteria is None and t.criteria_encoded_at is None
    # Then saving both rows (the new one left empty) encodes the criteria.
    data.pop("add_row")
    data.update({"rows-TOTAL_FORMS": "2", "rows-1-must": "must"})
    assert client.post(f"/trials/{t.pk}/criteria/", data).status_code == 302
    t.refresh_from_db()
    assert t.criteria["criteria"] == {"all": [{"type": "diagnosis", "codes": [GBM]}]}


def test_a_tree_with_more_than_four_any_of_groups_is_a_value_error_the_view_handles():
    from trials.forms import tree_to_rows

    five_groups = {
        "version": 1,
        "check_by_hand": [],
        "criteria": {
            "all": [
                {"any": [{"type": "grade", "grades": [g]}, {"type": "grade", "grades": [g + 1]}]}
                for g in range(1, 6)
            ]
        },
    }
    with pytest.raises(ValueError, match="more than four"):
        tree_to_rows(five_groups)
