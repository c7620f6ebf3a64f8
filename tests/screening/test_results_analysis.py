"""Normalisation, plate QC, curve fits and DSS against hand computations from the
formulas of docs/drug-sensitivity.md §4-§6 (Zhang 1999, Zhang 2007, Yadav et al. 2014). The DSS
area is checked twice: the paper's closed form written out here, and a numerical
integral of the curve (scipy.integrate.quad), so an error in the antiderivative shows."""

import math

import pytest
from scipy.integrate import quad

from screening import analysis, synthetic
from screening.analysis import Thresholds, dss, fit_curve, percent_inhibition, plate_qc

X_MIN, X_MAX = math.log10(1e-9), math.log10(10_000e-9)  # 1 nM .. 10,000 nM


def curve(x, a, c, b, d=0.0):
    return d + (a - d) / (1 + 10 ** (b * (c - x)))


def hand_dss(a, c, b, t=10.0, x_min=X_MIN, x_max=X_MAX):
    """Yadav 2014 by numerical integration: area between curve and threshold from where
    the curve crosses t to the top of the tested range, over the range x (100 - t)."""
    x1 = c - (math.log(a - t) - math.log(t)) / (b * math.log(10))
    x1 = min(max(x1, x_min), x_max)
    area, _ = quad(lambda x: curve(x, a, c, b) - t, x1, x_max)
    dss1 = 100 * area / ((x_max - x_min) * (100 - t))
    return dss1, dss1 / math.log10(a), dss1 * (2 / math.log10(a)) * ((x_max - x1) / (x_max - x_min))


def test_the_worked_check_of_the_reference():
    # IC50 100 nM, slope 1, top 100, range 1-10,000 nM, t = 10 (docs/drug-sensitivity.md §6).
    c = math.log10(100e-9)
    x1 = c - (math.log(90) - math.log(10)) / math.log(10)  # = -7 - log10(9)
    F = lambda x: 100 * math.log(1 + 10 ** (c - x)) / math.log(10) + 100 * x  # noqa: E731
    area = F(X_MAX) - F(x1) - 10 * (X_MAX - x1)
    expected1 = 100 * area / (4 * 90)
    scores = dss(log_ic50=c, slope=1, top=100, x_min=X_MIN, x_max=X_MAX)
    assert scores.dss1 == pytest.approx(expected1, rel=1e-12)
    assert scores.dss2 == pytest.approx(expected1 / 2, rel=1e-12)  # log10(100) = 2
    assert scores.dss3 == pytest.approx(expected1 * (X_MAX - x1) / 4, rel=1e-12)
    assert scores.dss1 == pytest.approx(hand_dss(100, c, 1)[0], rel=1e-9)
    assert scores.dss1 == pytest.approx(46.1983, abs=1e-4)  # a potent, complete curve


@pytest.mark.parametrize(
    "a,ic50_nm,b",
    [
        (80, 5, 1.5),  # inside the range
        (60, 0.01, 0.8),  # IC50 below the lowest concentration: x1 clamped to x_min
        (95, 3000, 2.5),  # late, steep
        (40, 300, 0.5),  # shallow, partial
    ],
)
def test_dss_matches_the_integral_of_the_curve(a, ic50_nm, b):
    c = math.log10(ic50_nm * 1e-9)
    scores = dss(log_ic50=c, slope=b, top=a, x_min=X_MIN, x_max=X_MAX)
    expected = hand_dss(a, c, b)
    assert (scores.dss1, scores.dss2, scores.dss3) == pytest.approx(expected, rel=1e-8)


def test_ic50_above_the_tested_range_scores_zero():
    assert dss(
        log_ic50=math.log10(20_000e-9), slope=1, top=100, x_min=X_MIN, x_max=X_MAX
    ) == analysis.Scores(0, 0, 0)


def test_a_curve_that_never_reaches_the_threshold_scores_zero():
    assert dss(log_ic50=-7, slope=1, top=9.5, x_min=X_MIN, x_max=X_MAX) == analysis.Scores(0, 0, 0)
    assert dss(log_ic50=-7, slope=1, top=10, x_min=X_MIN, x_max=X_MAX) == analysis.Scores(0, 0, 0)


def test_top_above_100_is_capped_and_slope_sign_ignored():
    capped = dss(log_ic50=-7, slope=-1, top=130, x_min=X_MIN, x_max=X_MAX)
    assert capped == dss(log_ic50=-7, slope=1, top=100, x_min=X_MIN, x_max=X_MAX)


def test_missing_inputs_give_no_score_and_zero_slope_zero():
    assert dss(log_ic50=None, slope=1, top=80, x_min=X_MIN, x_max=X_MAX) is None
    assert dss(log_ic50=-7, slope=0, top=80, x_min=X_MIN, x_max=X_MAX) == analysis.Scores(0, 0, 0)


def test_other_threshold():
    c = -7.5
    scores = dss(log_ic50=c, slope=1.2, top=90, x_min=X_MIN, x_max=X_MAX, threshold=20)
    assert (scores.dss1, scores.dss2, scores.dss3) == pytest.approx(
        hand_dss(90, c, 1.2, t=20), rel=1e-8
    )


def test_selective_dss_is_the_difference_from_the_reference_mean():
    assert analysis.selective(30.0, [10.0, 20.0, 30.0]) == pytest.approx(10.0)
    assert analysis.selective(30.0, []) is None


# --- Normalisation and QC ---------------------------------------------------------------------


def test_percent_inhibition_by_hand():
    assert list(percent_inhibition([1000, 550, 100, 1100], 1000, 100)) == pytest.approx(
        [0, 50, 100, -100 / 9]
    )


def test_z_prime_ssmd_and_cv_by_hand():
    negative, positive = [100, 110, 90, 100], [10, 12, 8, 10]
    sd_n = math.sqrt(sum((v - 100) ** 2 for v in negative) / 3)  # 8.165
    sd_p = math.sqrt(sum((v - 10) ** 2 for v in positive) / 3)  # 1.633
    qc = plate_qc(negative, positive)
    assert qc.z_prime == pytest.approx(1 - 3 * (sd_n + sd_p) / 90)
    assert qc.ssmd == pytest.approx(90 / math.sqrt(sd_n**2 + sd_p**2))
    assert qc.cv_negative == pytest.approx(100 * sd_n / 100)
    assert qc.cv_positive == pytest.approx(100 * sd_p / 10)
    assert qc.z_prime == pytest.approx(0.6734, abs=1e-4) and qc.status == "pass"


def test_a_noisy_plate_fails_and_a_marginal_one_warns():
    assert plate_qc([100, 140, 60, 100], [10, 30, 0, 10]).status == "fail"
    marginal = plate_qc([100, 120, 80, 100], [10, 12, 8, 10])  # Z' about 0.40
    assert marginal.status == "warn" and "marginal" in marginal.flags[0]
    strict = plate_qc(
        [100, 110, 90, 100],
        [10, 12, 8, 10],
        thresholds=Thresholds(z_prime_pass=0.7, z_prime_warn=0.68),
    )
    assert strict.status == "fail"


def test_edge_effect_by_hand():
    wells = [(0, 0, 80.0), (0, 5, 80.0), (5, 5, 100.0), (6, 6, 100.0)]
    assert analysis.edge_percent(wells, 16, 24) == pytest.approx(20.0)
    qc = plate_qc([100, 100.5, 99.5], [1, 1.2, 0.8], edge_wells=wells + [(15, 3, 70.0)])
    assert qc.edge_percent == pytest.approx(100 * (100 - 230 / 3) / 100)
    # Over the lab's edge limit (20 %) the plate fails like a low Z' does: not scored unless
    # overridden.
    assert qc.status == "fail" and "edge" in qc.flags[-1]
    lenient = plate_qc(
        [100, 100.5, 99.5],
        [1, 1.2, 0.8],
        edge_wells=wells + [(15, 3, 70.0)],
        thresholds=Thresholds(max_edge_percent=30.0),
    )
    assert lenient.status == "pass" and lenient.flags == []


def test_a_variable_dmso_control_fails_the_plate():
    # CV = sd/mean of 100, 130, 70, 100: sd = sqrt((0 + 900 + 900 + 0) / 3) = 24.49
    # -> 24.5 % > 20 %.
    # A lab that accepts Z' from 0.2 and |SSMD| from 3 still has its DMSO CV limit.
    lab = Thresholds(z_prime_pass=0.2, z_prime_warn=0.2, ssmd_pass=3.0, ssmd_warn=3.0)
    qc = plate_qc([100, 130, 70, 100], [0.5, 0.6, 0.4, 0.5], thresholds=lab)
    assert qc.cv_negative == pytest.approx(100 * (1800 / 3) ** 0.5 / 100)
    assert qc.z_prime > 0.2 and qc.ssmd > 3  # Z' and SSMD alone would let it through
    assert qc.status == "fail" and qc.flags == ["negative-control CV 24,5\u00a0% above 20,0\u00a0%"]


def test_zero_control_spread_gives_no_infinite_figures_in_the_stored_plate():
    from screening.services import _finite

    qc = plate_qc([100, 100, 100], [0, 0, 0])  # zero SDs: SSMD infinite; kill mean 0: CV infinite
    assert qc.status == "pass"
    assert (
        _finite(qc.ssmd) is None and _finite(qc.cv_positive) is None and _finite(qc.z_prime) == 1.0
    )


# --- Fits ----------------------------------------------------------------------------------------


def test_fit_recovers_known_parameters_from_exact_points():
    concentrations = [1, 10, 100, 1000, 10000] * 2
    values = [curve(math.log10(nm * 1e-9), 80, -7.3, 1.2) for nm in concentrations]
    fit = fit_curve(concentrations, values)
    assert (fit.top, fit.log_ic50, fit.slope) == pytest.approx((80, -7.3, 1.2), abs=1e-4)
    assert fit.r_squared == pytest.approx(1.0) and fit.flags == []
    assert fit.ic50_nm == pytest.approx(10**-7.3 * 1e9, rel=1e-3)
    area, _ = quad(lambda x: curve(x, 80, -7.3, 1.2), X_MIN, X_MAX)
    assert fit.auc == pytest.approx(area, rel=1e-4)


def test_a_flat_curve_is_marked_not_hidden():
    fit = fit_curve([1, 10, 100, 1000, 10000], [1.0, -2.0, 3.0, 0.5, 2.0])
    assert "flat" in fit.flags and fit.ok


def test_too_few_concentrations_is_a_failed_fit():
    fit = fit_curve([10, 10, 100], [5, 6, 50])
    assert not fit.ok and fit.flags[0].startswith("failed")


def test_a_screen_is_deterministic_and_recovers_its_curves():
    from screening import plates

    drugs = ["Alpha", "Beta", "Gamma", "Delta"]
    layout_text, grids, curves = synthetic.screen(drugs, plates=1, seed=3, noise_percent=1.0)
    layout = plates.parse_layout(layout_text)
    data = plates.match_readout(layout, plates.parse_readout(synthetic.grid_export(grids)))
    rows = [
        (
            p.name,
            [(w.well, w.row, w.column, w.role, w.drug, w.concentration_nm, s) for w, s in p.wells],
        )
        for p in data
    ]
    first = analysis.analyse(rows, rows=16, columns=24)
    second = analysis.analyse(rows, rows=16, columns=24)
    assert [d.scores for d in first[1]] == [d.scores for d in second[1]]
    by_drug = {d.drug: d for d in first[1]}
    for known in curves:
        if known.top > 10 and known.log_ic50 < -6:
            expected = dss(
                log_ic50=known.log_ic50, slope=known.slope, top=known.top, x_min=X_MIN, x_max=X_MAX
            )
            assert by_drug[known.drug].scores.dss2 == pytest.approx(expected.dss2, abs=2.0)
