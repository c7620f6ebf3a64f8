"""The criteria editor refuses trees no patient can ever meet, naming the conflict (for
each kind: disjoint ages, a marker both present and wildtype, diagnoses with nothing in
common, a grade the diagnoses do not have); keeps numbers as entered; shows each row's
fields by kind; offers checkboxes instead of multi-selects."""

import pytest

from consortium.models import Role
from tests.conftest import make_member, sign_in
from tests.trials.factories import ASTRO, GBM, tree, trial
from trials import criteria
from trials.models import TrialArm

pytestmark = pytest.mark.django_db

AGE_18_70 = {"type": "age", "min_years": 18, "max_years": 70}


@pytest.fixture
def coordinator_client(client):
    sign_in(client, make_member(Role.COORDINATOR, with_totp=True, email="c@x.no"))
    return client


def row(i, **values) -> dict:
    return {f"rows-{i}-{k}": v for k, v in values.items()}


def _post(client, t, *rows):
    data = {"rows-TOTAL_FORMS": str(len(rows)), "rows-INITIAL_FORMS": "0", "version": t.version}
    for i, values in enumerate(rows):
        data.update(row(i, **{"must": "must", **values}))
    return client.post(f"/trials/{t.pk}/criteria/", data)


@pytest.mark.parametrize(
    "rows,conflict",
    [
        (
            [dict(kind="age", low="18", high="70"), dict(kind="age", low="80")],
            'The age criteria cannot all hold: "age ≥ 80 years" and "age 18-70 years" have no '
            "age in common.",
        ),
        (
            [
                dict(kind="marker", marker="idh", marker_result="altered"),
                dict(kind="marker", marker="idh", marker_result="wildtype"),
            ],
            'IDH1/2 mutation is required both as "IDH1/2 mutation: mutant" and as "IDH1/2 '
            'mutation: wildtype (negative)": no patient has both.',
        ),
        (
            [
                dict(kind="marker", marker="mgmt", marker_result="altered"),
                dict(kind="marker", marker="mgmt", marker_result="altered", must="must_not"),
            ],
            "MGMT promoter methylation is required both as",
        ),
        (
            [dict(kind="diagnosis", diagnoses=[GBM]), dict(kind="grade", grades=["2"])],
            '"CNS WHO grade 2" is not a grade of Glioblastoma, IDH-wildtype (CNS WHO grades 4',
        ),
        (
            [dict(kind="diagnosis", diagnoses=[GBM]), dict(kind="diagnosis", diagnoses=[ASTRO])],
            "The diagnosis criteria have no diagnosis in common.",
        ),
    ],
    ids=["age", "marker", "marker-negated", "grade", "diagnosis"],
)
def test_a_tree_that_can_never_hold_is_refused_naming_the_conflict(
    coordinator_client, rows, conflict
):
    t = trial(None, encoded=False)
    response = _post(coordinator_client, t, *rows)
    assert response.status_code == 200
    assert conflict in response.content.decode().replace("&quot;", '"')
    t.refresh_from_db()
    assert t.criteria_encoded_at is None


def test_the_api_refuses_the_same_conflicts(coordinator_client):
    t = trial(tree({"type": "diagnosis", "codes": [GBM]}))
    response = coordinator_client.put(
        f"/api/v1/trials/{t.pk}/criteria/",
        {"version": t.version, "criteria": tree(AGE_18_70, {"type": "age", "min_years": 80})},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert "no age in common" in response.json()["extra"]["fields"]["criteria"][0]


def test_an_arm_contradicting_the_trial_is_refused(coordinator_client):
    t = trial(tree(AGE_18_70))
    arm = TrialArm.objects.create(trial=t, label="Elderly cohort")
    response = coordinator_client.put(
        f"/api/v1/trials/{t.pk}/criteria/",
        {
            "version": t.version,
            "criteria": tree(AGE_18_70),
            "arms": {str(arm.pk): tree({"type": "age", "min_years": 75})},
        },
        content_type="application/json",
    )
    assert response.status_code == 400
    assert response.json()["extra"]["fields"]["arms"][0].startswith(
        'Arm Elderly cohort: The age criteria cannot all hold: "age ≥ 75 years"'
    )


def test_alternatives_and_compatible_grades_are_not_conflicts():
    assert (
        criteria.contradictions({"all": [AGE_18_70, {"any": [{"type": "age", "min_years": 80}]}]})
        == []
    )
    both = {"type": "diagnosis", "codes": [GBM, ASTRO]}
    assert criteria.contradictions({"all": [both, {"type": "grade", "grades": [2]}]}) == []


def test_numbers_are_kept_as_entered(coordinator_client):
    t = trial(None, encoded=False)
    response = _post(coordinator_client, t, dict(kind="age", low="18", high="70"))
    assert response.status_code == 302
    t.refresh_from_db()
    age = t.criteria["criteria"]["all"][0]
    assert age == {"type": "age", "min_years": 18, "max_years": 70}
    assert isinstance(age["min_years"], int)
    page = coordinator_client.get(f"/trials/{t.pk}/").content.decode()
    assert "age 18-70 years" in page and "18.0" not in page
    editor = coordinator_client.get(f"/trials/{t.pk}/criteria/").content.decode()
    assert 'value="18"' in editor and 'value="70"' in editor
    # An older tree stored as floats still reads as entered.
    assert criteria.describe({"all": [{"type": "age", "min_years": 18.0, "max_years": 70.0}]}) == (
        "age 18-70 years"
    )


def test_each_row_marks_its_fields_by_kind_and_uses_checkboxes(coordinator_client):
    t = trial(tree({"type": "diagnosis", "codes": [GBM]}), encoded=True)
    editor = coordinator_client.get(f"/trials/{t.pk}/criteria/").content.decode()
    assert "<select multiple" not in editor and 'select name="rows-0-diagnoses"' not in editor
    assert f'type="checkbox" name="rows-0-diagnoses" value="{GBM}"' in editor
    assert 'class="kind-field for-diagnosis "' in editor
    assert 'class="kind-field for-marker "' in editor  # marker and its result
    assert 'class="kind-field for-age for-performance for-setting for-radiotherapy_ended "' in (
        editor
    )
