"""Kaplan-Meier survival curves of the register, with 95 % confidence bands and the
median, by SciPy (scipy.stats.ecdf on right-censored data: the Kaplan-Meier product-limit
estimate, Kaplan & Meier, JASA 1958;53:457; Greenwood's variance with the log-log
transformed interval, which stays within 0..1 — Kalbfleisch & Prentice 2002, §1.3;
https://docs.scipy.org/doc/scipy/reference/generated/scipy.stats.ecdf.html).

PostgreSQL does the grouping: one query gives, per (days, died), how many patients; the
estimator gets the counts expanded with numpy, never a row per episode from the ORM.

Curves:
- overall_survival: overall survival from the date of diagnosis, every tumour episode with
  a diagnosis date, at its reporting hospital, by year of diagnosis;
- the survival indicators (gbm_survival_1y, gbm_survival_2y, survival_30d): survival from
  the first surgery of the indicator's population, at its operating hospital, by the year
  of that surgery.
Living patients are censored at the as-of date; a date of death before the time origin
(old data) or a death without a date is left out and counted."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from datetime import date

import numpy as np
from django.db.models import Count, F, Q, QuerySet, Value
from django.db.models.functions import Coalesce, ExtractYear

from . import indicators
from .indicators import DIAGNOSIS_GROUPS, DaysBetween, flag
from .models import Patient, TumourEpisode

DAYS_PER_MONTH = 365.25 / 12


@dataclass(frozen=True)
class Curve:
    code: str
    title: str
    origin: str


CURVES = {
    "overall_survival": Curve(
        "overall_survival",
        "Overall survival from diagnosis",
        "the date of diagnosis (reporting hospital, year of diagnosis)",
    ),
    "gbm_survival_1y": Curve(
        "gbm_survival_1y",
        "Glioblastoma: survival from the first surgery",
        "the first surgery (its operating hospital and year)",
    ),
    "gbm_survival_2y": Curve(
        "gbm_survival_2y",
        "Glioblastoma: survival from the first surgery",
        "the first surgery (its operating hospital and year)",
    ),
    "survival_30d": Curve(
        "survival_30d",
        "Survival from the first surgery, every diagnosis",
        "the first surgery (its operating hospital and year)",
    ),
}


def _population(code: str) -> QuerySet:
    """Episodes with: origin (the time origin), unit_year, unit_institution, unit_diagnosis."""
    if code == "overall_survival":
        return TumourEpisode.objects.filter(diagnosis_date__isnull=False).annotate(
            origin=F("diagnosis_date"),
            unit_year=ExtractYear("diagnosis_date"),
            unit_institution=F("institution_id"),
            unit_diagnosis=F("diagnosis"),
            death=F("patient__date_of_death"),
        )
    episodes = indicators._episodes_by_first_surgery().annotate(origin=F("first_surgery"))
    if code != "survival_30d":
        episodes = episodes.filter(diagnosis=indicators.GLIOBLASTOMA)
    return episodes


@dataclass
class SurvivalCurve:
    code: str
    title: str
    origin: str
    as_of: date
    patients: int = 0
    deaths: int = 0
    left_out: dict = field(default_factory=dict)
    # (day, survival, low, high, at risk) at each distinct time, starting at (0, 1, 1, 1, n)
    points: list[tuple[int, float, float | None, float | None, int]] = field(default_factory=list)
    median_days: float | None = None
    median_low_days: float | None = None
    median_high_days: float | None = None

    @property
    def median_months(self) -> float | None:
        return None if self.median_days is None else round(self.median_days / DAYS_PER_MONTH, 1)

    def survival_at(self, day: int) -> float | None:
        """S(day): the estimate after every event up to and including that day."""
        found = None
        for point_day, survival, *_ in self.points:
            if point_day > day:
                break
            found = survival
        return found


def kaplan_meier(days: np.ndarray, died: np.ndarray) -> dict:
    """The Kaplan-Meier estimate, its 95 % log-log band and the median with its interval
    (Brookmeyer-Crowley style: where the band crosses 0.5), by scipy.stats.ecdf."""
    from scipy.stats import CensoredData, ecdf

    if not len(days):
        return {"points": [], "median": None, "median_low": None, "median_high": None}
    data = CensoredData(uncensored=days[died], right=days[~died])
    result = ecdf(data).sf
    with warnings.catch_warnings():  # undefined where S is 0 or 1: SciPy gives NaN there
        warnings.simplefilter("ignore", RuntimeWarning)
        band = result.confidence_interval(confidence_level=0.95, method="log-log")
    times = result.quantiles
    at_risk = [int((days >= t).sum()) for t in times]

    def clean(x):
        return None if x is None or np.isnan(x) else float(x)

    points = [(0, 1.0, 1.0, 1.0, int(len(days)))] + [
        (int(t), float(s), clean(lo), clean(hi), n)
        for t, s, lo, hi, n in zip(
            times,
            result.probabilities,
            band.low.probabilities,
            band.high.probabilities,
            at_risk,
            strict=True,
        )
    ]

    def first_below(values) -> float | None:
        for (t, *_), v in zip(points, values, strict=True):
            if v is not None and v <= 0.5:
                return float(t)
        return None

    return {
        "points": points,
        "median": first_below([p[1] for p in points]),
        "median_low": first_below([p[2] for p in points]),
        "median_high": first_below([p[3] for p in points]),
    }


def survival_curve(
    code: str,
    *,
    as_of: date,
    group: str = "",
    institution_id: int | None = None,
    region_institutions: list[int] | None = None,
    years: tuple[int, int] | None = None,
) -> SurvivalCurve:
    curve = CURVES[code]
    episodes = _population(code)
    if group:
        episodes = episodes.filter(diagnosis__in=DIAGNOSIS_GROUPS[group][1])
    if institution_id:
        episodes = episodes.filter(unit_institution=institution_id)
    if region_institutions is not None:
        episodes = episodes.filter(unit_institution__in=region_institutions)
    if years:
        episodes = episodes.filter(unit_year__gte=years[0], unit_year__lte=years[1])
    episodes = episodes.filter(origin__lte=as_of)
    rows = (
        episodes.annotate(
            follow_up=DaysBetween(Coalesce("death", Value(as_of)), "origin"),
            died=flag(Q(death__isnull=False)),
            reason=indicators.Case(
                indicators.When(Q(death__lt=F("origin")), then=Value("death_before_origin")),
                indicators.When(
                    Q(patient__vital_status=Patient.VitalStatus.DEAD, death__isnull=True),
                    then=Value("dead_without_date"),
                ),
                default=Value(""),
                output_field=indicators.CharField(),
            ),
        )
        .order_by()
        .values("follow_up", "died", "reason")
        .annotate(n=Count("pk"))
    )
    result = SurvivalCurve(code=code, title=curve.title, origin=curve.origin, as_of=as_of)
    days, died, counts = [], [], []
    for row in rows:
        if row["reason"]:
            result.left_out[row["reason"]] = result.left_out.get(row["reason"], 0) + row["n"]
            continue
        days.append(row["follow_up"])
        died.append(row["died"])
        counts.append(row["n"])
    day_array = np.repeat(np.array(days, dtype=float), counts)
    died_array = np.repeat(np.array(died, dtype=bool), counts)
    result.patients, result.deaths = int(len(day_array)), int(died_array.sum())
    estimate = kaplan_meier(day_array, died_array)
    result.points = estimate["points"]
    result.median_days = estimate["median"]
    result.median_low_days = estimate["median_low"]
    result.median_high_days = estimate["median_high"]
    return result


LEFT_OUT_LABELS = {
    "death_before_origin": "Date of death before the time origin (old data)",
    "dead_without_date": "Recorded as dead without a date of death",
}
