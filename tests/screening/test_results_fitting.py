"""All curves of a run fitted together (screening/fitting.py), against the per-curve path it
replaced: SciPy's least_squares on each curve alone (analysis.fit_curve_least_squares, also
the fallback), over the synthetic five-plate screen the benchmark analyses. Curves that cannot
converge are flagged within their evaluation budget, and the flag reaches the stored result."""

import math

import numpy as np
import pytest

from screening import analysis, plates, synthetic

CONCENTRATIONS = [1, 10, 100, 1000, 10000] * 2  # nM, duplicates
BUDGET = analysis.BATCH_ITERATIONS + 1 + analysis.FALLBACK_EVALUATIONS


@pytest.fixture(scope="module")
def five_plate_screen():
    """The benchmark's screen: 300 drugs x 5 concentrations on five 384-well plates."""
    layout, grids, _ = synthetic.screen(
        [f"Drug {i:03d}" for i in range(300)], plates=5, replicates=1, seed=11
    )
    data = plates.match_readout(
        plates.parse_layout(layout), plates.parse_readout(synthetic.grid_export(grids))
    )
    rows = [
        (
            p.name,
            [(w.well, w.row, w.column, w.role, w.drug, w.concentration_nm, s) for w, s in p.wells],
        )
        for p in data
    ]
    return analysis.analyse(rows, rows=16, columns=24)[1]


def _scores(fit, result):
    return analysis.dss(
        log_ic50=fit.log_ic50,
        slope=fit.slope,
        top=fit.top,
        x_min=result.x_min,
        x_max=result.x_max,
    )


def test_batched_fits_agree_with_per_curve_least_squares(five_plate_screen):
    """Where the data determine the parameters, the batch and the per-curve reference reach the
    same optimum: IC50 within 1e-3 relative, top within 0.1 percentage points, DSS1-3 within
    0.1. "Determined" is read from the reference's own fit: the 95 % confidence interval of
    log10 IC50 (+-1.96 standard errors) is narrower than the tested range. Elsewhere (a steep
    step between two doses, a flat line) the cost is flat along a valley and any solver's
    stopping point along it is arbitrary, the reference's included."""
    compared = 0
    for result in five_plate_screen:
        concentrations = [c for c, _ in result.points]
        reference = analysis.fit_curve_least_squares(
            concentrations, [v for _, v in result.points], max_evaluations=2000
        )
        se = reference.errors.get("log_ic50")
        if not (result.fit.converged and reference.converged) or se is None:
            continue
        if 2 * 1.96 * se >= result.x_max - result.x_min:
            continue
        compared += 1
        fit = result.fit
        assert 10 ** (fit.log_ic50 - reference.log_ic50) == pytest.approx(1, abs=1e-3), result.drug
        assert fit.top == pytest.approx(reference.top, abs=0.1), result.drug
        ours, theirs = _scores(fit, result), _scores(reference, result)
        assert (ours.dss1, ours.dss2, ours.dss3) == pytest.approx(
            (theirs.dss1, theirs.dss2, theirs.dss3), abs=0.1
        ), result.drug
        assert result.scores == ours  # what the run stored is this fit's score
    assert compared >= 0.6 * len(five_plate_screen)  # the comparison covers most of the screen


def test_every_fit_of_the_screen_stays_within_its_budget(five_plate_screen):
    assert all(r.fit.evaluations <= BUDGET for r in five_plate_screen)
    unconverged = [r for r in five_plate_screen if not r.fit.converged]
    assert all(any(f.startswith("not converged") for f in r.fit.flags) for r in unconverged)
    assert all(r.fit.ok for r in unconverged)  # the best point reached is kept and shown


def test_a_drugs_fit_does_not_depend_on_the_other_drugs_of_the_run(five_plate_screen):
    for result in five_plate_screen[::37]:
        alone = analysis.fit_curve([c for c, _ in result.points], [v for _, v in result.points])
        assert (alone.top, alone.log_ic50, alone.slope, alone.flags) == (
            result.fit.top,
            result.fit.log_ic50,
            result.fit.slope,
            result.fit.flags,
        )


def test_starting_values_come_from_the_data():
    x = np.log10(np.array([1, 10, 100, 1000, 10000]) * 1e-9)
    top, log_ic50, slope = analysis.starting_values(x, np.array([2.0, 10.0, 30.0, 70.0, 80.0]))
    # Top from the highest mean; half of it (40) lies between 30 % at 100 nM and 70 % at
    # 1000 nM, a quarter of the way in log10 concentration: 10^(-7 + 0.25) M.
    assert (top, slope) == (80.0, 1.0)
    assert log_ic50 == pytest.approx(-7 + (40 - 30) / (70 - 30))
    # Never reaching half the top: start half a decade beyond the highest dose; above it at
    # the lowest: half a decade below; top kept off its bounds.
    assert analysis.starting_values(x, np.array([60, 70, 80, 90, 120.0]))[:2] == [99.0, -9.5]
    assert analysis.starting_values(x, np.full(5, -3.0))[:2] == [1.0, -4.5]


def _noise():
    return list(np.random.default_rng(5).normal(0, 4, len(CONCENTRATIONS)))


@pytest.mark.parametrize(
    "case,values",
    [
        ("pure noise", _noise()),
        ("flat line", [0.0] * len(CONCENTRATIONS)),
        ("single outlier", [0.0] * 6 + [85.0] + [0.0] * 3),
    ],
)
def test_a_curve_that_cannot_converge_is_flagged_within_the_budget(case, values):
    fit = analysis.fit_curve(CONCENTRATIONS, values)
    assert fit.ok and fit.evaluations <= BUDGET
    assert fit.flags, case  # flat, poor, not converged or a bound: never a clean fit
    again = analysis.fit_curve_least_squares(CONCENTRATIONS, values)
    assert again.evaluations <= analysis.FALLBACK_EVALUATIONS


def test_a_fit_stopped_at_its_budget_is_reported_not_converged():
    # Pure noise in three iterations and three fallback evaluations: the budget ends first.
    fit = analysis.fit_curves(
        [(CONCENTRATIONS, _noise())], max_iterations=3, fallback_evaluations=3
    )[0]
    assert fit.converged is False and fit.evaluations <= 1 + 3 + 3
    assert f"not converged after {fit.evaluations} evaluations" in fit.flags
    assert fit.ok and math.isfinite(fit.top)  # its parameters are kept and shown, flagged


def test_exact_points_converge_in_a_few_iterations():
    values = [80 / (1 + 10 ** (1.2 * (-7.3 - math.log10(c * 1e-9)))) for c in CONCENTRATIONS]
    fit = analysis.fit_curve(CONCENTRATIONS, values)
    assert fit.converged and fit.evaluations <= 20 and fit.flags == []


def test_too_few_concentrations_is_not_fitted_at_all():
    fit = analysis.fit_curve([10, 10, 100], [5, 6, 50])
    assert fit.converged is None and fit.evaluations == 0 and not fit.ok


@pytest.mark.django_db
def test_an_unconverged_fit_is_stored_and_shown_in_the_api_and_page(client, monkeypatch):
    from screening.models import DrugResult
    from tests.conftest import sign_in
    from tests.screening.factories import analysed, make_world

    # A lab could only reach this with a budget this small; two iterations leave most curves
    # of the two-plate upload unconverged.
    monkeypatch.setattr(analysis, "BATCH_ITERATIONS", 2)
    monkeypatch.setattr(analysis, "FALLBACK_EVALUATIONS", 2)
    world = make_world(with_totp=True)
    request, upload, run = analysed(world)
    stored = DrugResult.objects.filter(run=run, converged=False)
    assert stored.exists()
    result = stored.first()
    assert result.fit_evaluations <= 5
    assert f"not converged after {result.fit_evaluations} evaluations" in result.fit_flags
    sign_in(client, world.lab)
    body = client.get(f"/api/v1/screening/requests/{request.pk}/results/").json()
    drug = next(d for d in body["drugs"] if d["drug_name"] == result.drug_name)
    assert drug["converged"] is False and drug["fit_evaluations"] == result.fit_evaluations
    page = client.get(f"/screening/requests/{request.pk}/results/").content.decode()
    assert f"Fit: not converged after {result.fit_evaluations} evaluations" in page
