"""Reads of the quality indicators: the newest snapshot's figures as a member may see them
(small cells suppressed), the charts drawn from them, and a clinician's own patients who
did not meet an indicator.

Who sees what:
- Everyone signed in sees the aggregate figures of every year; an anonymous visitor sees
  the published year (the last full calendar year) only.
- Admins, and a hospital's own members for that hospital, see exact figures. For everyone
  else a hospital's cell with a denominator of 1 to 4 shows "<5" with no numerator, value
  or interval; when exactly one hospital's cell of an indicator is hidden so among the
  hospitals of a total that is shown (the nation, a health region), the next smallest is
  hidden too (secondary suppression), so no hidden cell follows from the total.
  The national figure is always shown; a regional figure too, except where it would give
  a hidden cell away (a region of one hospital: see `suppression`). (Statistics Norway's
  and the Cancer Registry's practice of suppressing counts under 5 with complementary suppression:
  https://www.ssb.no/en/omssb/tjenester-og-verktoy/data-til-forskning; OECD glossary,
  "complementary suppression", https://stats.oecd.org/glossary/detail.asp?ID=4510)
- Clinicians of a hospital see which of its patients did not meet an indicator (register
  numbers); everyone else counts only."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date

from django.core.cache import cache
from django.db.models import F
from django.utils import timezone

from consortium import formats
from consortium.models import Institution, Role, User

from . import indicators
from . import suppression as suppression_rules
from .exceptions import BadFilter
from .indicators import CATALOGUE, DIAGNOSIS_GROUPS, Indicator
from .models import IndicatorCell, IndicatorSnapshot, Surgery
from .selectors import patients_visible_to, user_institution_ids

SMALL_CELL = suppression_rules.SMALL_CELL  # denominators 1..4 are hidden
Z_95, Z_998 = 1.959963984540054, 3.090232306167813


def published_year(today: date | None = None) -> int:
    """The year anonymous visitors see: the last full calendar year."""
    return (today or timezone.localdate()).year - 1


def newest_snapshot() -> IndicatorSnapshot | None:
    return (
        IndicatorSnapshot.objects.filter(status=IndicatorSnapshot.Status.DONE)
        .order_by("-as_of", "-id")
        .first()
    )


def running_snapshot() -> IndicatorSnapshot | None:
    return (
        IndicatorSnapshot.objects.filter(
            status__in=[IndicatorSnapshot.Status.QUEUED, IndicatorSnapshot.Status.RUNNING]
        )
        .order_by("-requested_at")
        .first()
    )


def snapshot_state() -> tuple[IndicatorSnapshot | None, IndicatorSnapshot | None]:
    """(the newest finished snapshot, the one queued or being computed), in one query:
    the indicators page asks both on every view."""
    done = IndicatorSnapshot.objects.filter(status=IndicatorSnapshot.Status.DONE).order_by(
        "-as_of", "-id"
    )[:1]
    running = IndicatorSnapshot.objects.filter(
        status__in=[IndicatorSnapshot.Status.QUEUED, IndicatorSnapshot.Status.RUNNING]
    ).order_by("-requested_at")[:1]
    found = {
        s.status: s
        for s in done.defer("history_marks").union(running.defer("history_marks"), all=True)
    }
    newest = found.pop(IndicatorSnapshot.Status.DONE, None)
    return newest, next(iter(found.values()), None)


SNAPSHOTS_CHANGED_KEY = "registry:indicator-snapshots:generation"
SNAPSHOT_STATE_KEY = "registry:indicator-snapshot-state"


def snapshot_state_cached(also: tuple[str, ...] = ()) -> tuple[dict, dict]:
    """snapshot_state and the newest snapshot's years ({"generation", "newest", "running",
    "years"}), kept in Redis until a snapshot is requested, starts, ends or fails
    (indicator_services.snapshots_changed bumps the generation) and for a minute at most,
    should a change bypass the services. The `also` keys are read in the same round trip
    and answered as the second item (the page's own cache entry)."""
    found = cache.get_many([SNAPSHOTS_CHANGED_KEY, SNAPSHOT_STATE_KEY, *also])
    generation = found.get(SNAPSHOTS_CHANGED_KEY, 0)
    state = found.get(SNAPSHOT_STATE_KEY)
    if state is None or state["generation"] != generation:
        newest, running = snapshot_state()
        state = {
            "generation": generation,
            "newest": newest,
            "running": running,
            "years": available_years(newest) if newest else [],
        }
        cache.set(SNAPSHOT_STATE_KEY, state, timeout=60)
    return state, {k: found[k] for k in also if k in found}


def exact_institutions(user: User) -> set[int] | None:
    """The hospitals whose exact figures the member sees; None = every one (admins)."""
    if not user.is_authenticated:
        return set()
    if user.is_consortium_admin:
        return None
    return set(user_institution_ids(user))


@dataclass
class Figure:
    """One indicator's figure for one place, as this member may see it."""

    indicator: Indicator
    year: int
    institution: Institution | None
    region: str
    numerator: int | None
    denominator: int | None
    left_out: dict
    suppressed: bool = False
    own: bool = False
    value: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    attainment: str | None = None

    def __post_init__(self):
        if self.suppressed:
            self.numerator = self.denominator = None
            self.left_out = {}
            return
        if self.denominator:
            self.value = self.numerator / self.denominator
            self.ci_low, self.ci_high = indicators.wilson_interval(self.numerator, self.denominator)
            self.attainment = indicators.attainment(self.indicator, self.value)

    @property
    def place(self) -> str:
        if self.institution:
            return self.institution.code
        return Institution.HealthRegion(self.region).label if self.region else "Norway"

    @property
    def percent(self) -> str:
        return "" if self.value is None else formats.quantity(100 * self.value, "share")

    @property
    def interval(self) -> str:
        if self.ci_low is None:
            return ""
        return share_interval(self.ci_low, self.ci_high)

    @property
    def left_out_total(self) -> int:
        return sum(self.left_out.values())

    @property
    def left_out_reasons(self) -> list[tuple[str, int]]:
        labels = self.indicator.left_out_labels
        return [(labels.get(code, code), n) for code, n in sorted(self.left_out.items())]


def suppressed_cells(cells: list[IndicatorCell], regions: dict[int, str]) -> set[int]:
    """The hospital cells (ids) hidden from members without exact access."""
    return suppression(cells, regions)[0]


def suppression(cells: list[IndicatorCell], regions: dict[int, str]) -> tuple[set[int], set[str]]:
    """Which hospital cells (ids) and which regional figures are hidden from members
    without exact access, for one indicator, year and diagnosis group.

    Primary: a hospital's denominator of 1-4. Then the shared rules (registry.suppression)
    on the table as it is published: each region's hospitals add up to its regional
    figure, the regions and the hospitals add up to the national figure, which is always
    shown. A regional figure is hidden only where it would give a hidden cell away: in a
    region of one hospital (three of the four health regions here) it IS that hospital's
    cell, so it is hidden with it; when exactly one regional figure is hidden, the next
    smallest region's is hidden too (the nation minus the shown regions would give it),
    with one of its hospitals (else its hospitals would add up to it); and whatever the
    exact recoverability check finds besides."""
    counts: dict = {c.pk: c.denominator for c in cells}
    code: dict = {c.pk: c.institution.code if c.institution_id else "" for c in cells}
    by_region: dict[str, list[int]] = {}
    for c in cells:
        if regions.get(c.institution_id):
            by_region.setdefault(regions[c.institution_id], []).append(c.pk)
    for region, members in by_region.items():
        counts[f"region:{region}"] = sum(counts[pk] for pk in members)
    relations = [
        suppression_rules.Relation(tuple(members), f"region:{region}")
        for region, members in sorted(by_region.items())
    ]
    relations += [
        suppression_rules.Relation(tuple(f"region:{r}" for r in sorted(by_region))),
        suppression_rules.Relation(tuple(c.pk for c in cells)),
    ]

    def rank(key):  # smallest first; a hospital before a region of the same size
        if isinstance(key, str):
            return (counts[key], 1, key)
        return (counts[key], 0, code[key])

    hidden = suppression_rules.protect(
        counts,
        relations,
        primary=[c.pk for c in cells if suppression_rules.is_small(c.denominator)],
        rank=rank,
    )
    return (
        {k for k in hidden if not isinstance(k, str)},
        {k.removeprefix("region:") for k in hidden if isinstance(k, str)},
    )


@dataclass
class IndicatorView:
    indicator: Indicator
    national: Figure | None
    regional: Figure | None
    hospitals: list[Figure] = field(default_factory=list)
    trend: list[Figure] = field(default_factory=list)
    # Per hospital: (code, its figures by year), suppressed as each year's table is.
    hospital_trends: list[tuple[str, list[Figure]]] = field(default_factory=list)
    funnel: dict | None = None
    trend_chart: dict | None = None
    hospital_table: tuple | None = None  # (years, [(hospital code, figures by year)])

    @property
    def code(self) -> str:
        return self.indicator.code

    @property
    def targets_text(self) -> str:
        return targets_text(self.indicator)


def percent(value: float) -> str:
    """A goal as the guideline writes it, whole percent ("80 %")."""
    return formats.quantity(100 * value, "goal")


def share_interval(low: float, high: float) -> str:
    """A 95 % interval of a share in Norwegian style: "45,3–60,1 %"."""
    return f"{formats.amount(100 * low, 'share')}–{formats.quantity(100 * high, 'share')}"


def targets_text(indicator: Indicator) -> str:
    parts = []
    if indicator.target_moderate is not None:
        parts.append(f"moderate {percent(indicator.target_moderate)}")
    if indicator.target_high is not None:
        parts.append(f"high {percent(indicator.target_high)}")
    return (", ".join(parts) + ".") if parts else ""


def _figure(indicator, cell, *, suppressed=False, own=False) -> Figure:
    return Figure(
        indicator=indicator,
        year=cell.year,
        institution=cell.institution,
        region=cell.region,
        numerator=cell.numerator,
        denominator=cell.denominator,
        left_out=cell.left_out,
        suppressed=suppressed,
        own=own,
    )


def indicator_page(
    *,
    user: User,
    snapshot: IndicatorSnapshot,
    year: int,
    group: str = "",
    region: str = "",
    institution: str = "",
    codes: list[str] | None = None,
    with_trends: bool = True,
) -> list[IndicatorView]:
    """Every indicator (or those named) for a year, diagnosis group and region: national,
    regional and per hospital, suppressed for this member, with the trend over years.
    Two queries whatever the number of indicators, years and hospitals."""
    exact = exact_institutions(user)
    regions = dict(
        Institution.objects.filter(kind=Institution.Kind.HOSPITAL).values_list(
            "pk", "health_region"
        )
    )
    # Every year at once: the trends need each year's suppression as much as the year shown.
    cells = IndicatorCell.objects.filter(snapshot=snapshot, diagnosis_group=group)
    if not with_trends:  # the API and the reports: the year's figures only
        cells = cells.filter(year=year)
    all_cells = list(
        cells.select_related("institution").order_by("indicator", "year", "institution__code")
    )
    by_code_year: dict[tuple[str, int], list[IndicatorCell]] = {}
    for c in all_cells:
        by_code_year.setdefault((c.indicator, c.year), []).append(c)

    def sees_region(region_code: str) -> bool:
        """Exact access to every hospital of the region that has a cell."""
        if exact is None:
            return True
        return all(i in exact for i, r in regions.items() if r == region_code)

    def figures_of(indicator, mine):
        """(national, regional, hospital figures) of one indicator and year, as this
        member may see them."""
        hospital_cells = [c for c in mine if c.institution_id]
        hidden, hidden_regions = suppression(hospital_cells, regions)
        national = next((c for c in mine if not c.institution_id and not c.region), None)
        regional = next((c for c in mine if region and c.region == region), None)
        hospitals = []
        for c in hospital_cells:
            sees_exact = exact is None or c.institution_id in exact
            hospitals.append(
                _figure(
                    indicator,
                    c,
                    suppressed=c.pk in hidden and not sees_exact,
                    own=bool(exact) and c.institution_id in exact,
                )
            )
        regional_figure = None
        if regional is not None:
            regional_figure = _figure(
                indicator,
                regional,
                suppressed=regional.region in hidden_regions and not sees_region(regional.region),
            )
        return (
            _figure(indicator, national) if national else None,
            regional_figure,
            hospitals,
        )

    views = []
    years = sorted({y for _, y in by_code_year})
    for code, indicator in CATALOGUE.items():
        if codes and code not in codes:
            continue
        national, regional, hospitals = figures_of(indicator, by_code_year.get((code, year), []))
        shown_hospitals = [
            f
            for f in hospitals
            if (not region or regions.get(f.institution.pk) == region)
            and (not institution or f.institution.code == institution)
        ]
        trend, hospital_trends = [], {}
        for y in years if with_trends else ():
            if (code, y) not in by_code_year:
                continue
            n, r, hs = figures_of(indicator, by_code_year[(code, y)])
            place = r if region else n
            if place is not None:
                trend.append(place)
            for f in hs:
                if (not region or regions.get(f.institution.pk) == region) and (
                    not institution or f.institution.code == institution
                ):
                    hospital_trends.setdefault(f.institution.code, []).append(f)
        view = IndicatorView(
            indicator=indicator,
            national=national,
            regional=regional,
            hospitals=shown_hospitals,
            trend=trend,
            hospital_trends=sorted(hospital_trends.items()),
        )
        view.funnel = funnel_chart(view)
        view.trend_chart = trend_chart(view)
        view.hospital_table = hospital_trend_table(view)
        views.append(view)
    return views


def available_years(snapshot: IndicatorSnapshot) -> list[int]:
    return list(
        IndicatorCell.objects.filter(snapshot=snapshot, institution__isnull=True, region="")
        .order_by("-year")
        .values_list("year", flat=True)
        .distinct()
    )


# --- Charts (server-side SVG: no script, no inline style; classes in indicators.css) ----------

WIDTH, HEIGHT = 420, 240
LEFT, RIGHT, TOP, BOTTOM = 44, 12, 12, 30


# Chart coordinates are strings made here: a template renders a float through the locale's
# number formatting, which was most of the page's time with hundreds of points.


def _y(value: float) -> str:
    return f"{TOP + (1 - value) * (HEIGHT - TOP - BOTTOM):.1f}"


def _frame() -> dict:
    return {
        "width": str(WIDTH),
        "height": str(HEIGHT),
        "left": str(LEFT),
        "right": str(WIDTH - RIGHT),
        "bottom": str(HEIGHT - BOTTOM),
        "tick_x": str(LEFT - 4),
        "tick_y": str(HEIGHT - 14),
        "axis_y": str(HEIGHT - 2),
    }


def _targets(indicator: Indicator) -> list[dict]:
    found = []
    for level, value in (("high", indicator.target_high), ("moderate", indicator.target_moderate)):
        if value is not None:
            found.append(
                {"level": level, "value": value, "y": _y(value), "percent": percent(value)}
            )
    return found


def _y_ticks() -> list[tuple[float, str]]:
    return [(_y(v / 100), formats.quantity(v, "goal")) for v in (0, 25, 50, 75, 100)]


def _nice_max(n: int) -> int:
    if n <= 10:
        return 10
    magnitude = 10 ** int(math.log10(n))
    for step in (1, 2, 2.5, 5, 10):
        if n <= step * magnitude:
            return int(step * magnitude)
    return n


def funnel_chart(view: IndicatorView) -> dict | None:
    """Proportion against number of units per hospital, with 95 % and 99.8 % control
    limits around the national value (Spiegelhalter, Stat Med 2005;24:1185). Hidden cells
    are not drawn (they are "<5" in the table)."""
    national = view.national
    points = [f for f in view.hospitals if f.value is not None]
    if not national or national.value is None or not points:
        return None
    p = national.value
    x_max = _nice_max(max(f.denominator for f in points))

    def x(n: float) -> str:
        return f"{LEFT + n / x_max * (WIDTH - LEFT - RIGHT):.1f}"

    steps = [max(1.0, x_max * (i / 30) ** 2) for i in range(1, 31)]
    limits = {}
    for name, z in (("95", Z_95), ("998", Z_998)):
        lows, highs = [], []
        for n in steps:
            low, high = indicators.funnel_limits(p, round(n), z)
            lows.append(f"{x(n)},{_y(low)}")
            highs.append(f"{x(n)},{_y(high)}")
        limits[name] = {"low": " ".join(lows), "high": " ".join(highs)}
    drawn = []
    for f in points:
        low95, high95 = indicators.funnel_limits(p, f.denominator, Z_95)
        low998, high998 = indicators.funnel_limits(p, f.denominator, Z_998)
        outside = (
            "above 99.8 %"
            if f.value > high998
            else "below 99.8 %"
            if f.value < low998
            else "above 95 %"
            if f.value > high95
            else "below 95 %"
            if f.value < low95
            else "within"
        )
        drawn.append(
            {
                "x": x(f.denominator),
                "y": _y(f.value),
                "label_x": f"{float(x(f.denominator)) + 8:.1f}",
                "figure": f,
                "outside": outside,
                "own": f.own,
            }
        )
    return {
        **_frame(),
        "national_y": _y(p),
        "limits": limits,
        "points": drawn,
        "targets": _targets(view.indicator),
        "y_ticks": _y_ticks(),
        "x_ticks": [(x(x_max * i / 4), str(round(x_max * i / 4))) for i in range(5)],
    }


def trend_chart(view: IndicatorView) -> dict | None:
    """The national (or regional) line and one line per hospital; a suppressed or empty
    year is a gap in a hospital's line, never a point."""
    points = [f for f in view.trend if f.value is not None]
    years = sorted(
        {f.year for f in points}
        | {f.year for _, fs in view.hospital_trends for f in fs if f.value is not None}
    )
    if len(years) < 2:
        return None
    first, last = years[0], years[-1]
    span = max(1, last - first)

    def x(year: int) -> str:
        return f"{LEFT + (year - first) / span * (WIDTH - LEFT - RIGHT):.1f}"

    drawn = [{"x": x(f.year), "y": _y(f.value), "figure": f} for f in points]
    hospitals = []
    for code, figures in view.hospital_trends:
        segments, current = [], []
        by_year = {f.year: f for f in figures}
        for year in years:
            f = by_year.get(year)
            if f is None or f.value is None:
                if current:
                    segments.append(current)
                current = []
                continue
            current.append(f"{x(year)},{_y(f.value)}")
        if current:
            segments.append(current)
        hospitals.append(
            {
                "code": code,
                "own": any(f.own for f in figures),
                "segments": [" ".join(seg) for seg in segments if len(seg) > 1],
                "dots": [
                    {"x": x(f.year), "y": _y(f.value), "figure": f}
                    for f in figures
                    if f.value is not None
                ],
            }
        )
    return {
        **_frame(),
        "line": " ".join(f"{d['x']},{d['y']}" for d in drawn),
        "points": drawn,
        "hospitals": hospitals,
        "targets": _targets(view.indicator),
        "y_ticks": _y_ticks(),
        "x_ticks": [(x(year), str(year)) for year in years],
    }


def hospital_trend_table(view: IndicatorView) -> tuple[list[int], list[tuple[str, list]]]:
    """The per-hospital trend as a table: years, and per hospital its figure (or None)
    for each year."""
    years = sorted({f.year for _, fs in view.hospital_trends for f in fs})
    rows = []
    for code, figures in view.hospital_trends:
        by_year = {f.year: f for f in figures}
        rows.append((code, [by_year.get(y) for y in years]))
    return years, rows


# --- A clinician's own patients who did not meet an indicator -----------------------------------


def may_list_patients(user: User, institution: Institution) -> bool:
    return (
        user.is_authenticated
        and user.role == Role.CLINICIAN
        and institution.pk in user_institution_ids(user)
    )


def missed_units(*, user: User, indicator: Indicator, year: int, institution: Institution):
    """The units of the hospital and year in the indicator's denominator that did not
    meet it, from the register as it is now (the same query as the counts), limited to
    patients the clinician may see. Rows: register number, episode id, the unit's date."""
    as_of = timezone.localdate()
    units = indicators.units_not_met(indicator, as_of).filter(
        unit_year=year, unit_institution=institution.pk
    )
    patient = "episode__patient" if units.model is Surgery else "patient"
    units = units.filter(**{f"{patient}__in": patients_visible_to(user)})
    episode = "episode_id" if units.model is Surgery else "pk"
    day = "surgery_date" if units.model is Surgery else "diagnosis_date"
    return units.values(
        "pk",
        "unit_diagnosis",
        patient_number=F(f"{patient}__register_number"),
        patient_ref=F(f"{patient}__pk"),
        episode_ref=F(episode),
        unit_day=F(day),
    ).order_by(day, "pk")


def group_choices() -> list[tuple[str, str]]:
    return [("", "All diagnoses")] + [
        (slug, label) for slug, (label, _) in DIAGNOSIS_GROUPS.items()
    ]


# --- Survival curves ----------------------------------------------------------------------------


def survival_filters(params) -> dict:
    """The curve's filters from a query string; BadFilter names each bad field."""
    errors, found = {}, {}
    group = params.get("diagnosis_group", "") or params.get("group", "")
    if group and group not in DIAGNOSIS_GROUPS:
        errors["diagnosis_group"] = f"One of: {', '.join(DIAGNOSIS_GROUPS)}."
    found["group"] = group
    region = params.get("region", "")
    if region and region not in Institution.HealthRegion.values:
        errors["region"] = f"One of: {', '.join(Institution.HealthRegion.values)}."
    found["region"] = region
    code = params.get("institution", "")
    found["institution"] = None
    if code:
        found["institution"] = Institution.objects.filter(
            code=code, kind=Institution.Kind.HOSPITAL
        ).first()
        if found["institution"] is None:
            errors["institution"] = f"No hospital with the code {code}."
    years = []
    for name in ("year_from", "year_to"):
        value = params.get(name, "")
        try:
            years.append(int(value) if value else None)
        except ValueError:
            errors[name] = "A year, e.g. 2020."
            years.append(None)
    found["years"] = (years[0] or 1900, years[1] or 2999) if any(years) else None
    if errors:
        raise BadFilter(errors)
    return found


def survival_for(*, user: User, code: str, group="", region="", institution=None, years=None):
    """The curve, or None when it is a hospital's curve of fewer than 5 patients that this
    member may not see exactly (a curve's steps are individual deaths)."""
    from . import survival

    region_ids = None
    if region:
        region_ids = list(
            Institution.objects.filter(
                kind=Institution.Kind.HOSPITAL, health_region=region
            ).values_list("pk", flat=True)
        )
    curve = survival.survival_curve(
        code,
        as_of=timezone.localdate(),
        group=group,
        institution_id=institution.pk if institution else None,
        region_institutions=region_ids,
        years=years,
    )
    exact = exact_institutions(user)
    if (
        institution
        and 0 < curve.patients < SMALL_CELL
        and not (exact is None or institution.pk in exact)
    ):
        curve.suppressed = True
        curve.points, curve.median_days = [], None
        curve.median_low_days = curve.median_high_days = None
        curve.patients = curve.deaths = None
    else:
        curve.suppressed = False
    return curve


def survival_json(curve) -> dict:
    return {
        "code": curve.code,
        "title": curve.title,
        "origin": curve.origin,
        "as_of": curve.as_of,
        "patients": curve.patients,
        "deaths": curve.deaths,
        "left_out": curve.left_out,
        "median_days": curve.median_days,
        "median_ci_days": [curve.median_low_days, curve.median_high_days],
        "suppressed": curve.suppressed,
        "points": [
            {"day": d, "survival": s, "ci_low": lo, "ci_high": hi, "at_risk": n}
            for d, s, lo, hi, n in curve.points
        ],
    }


SURVIVAL_MONTHS = (6, 12, 24, 36, 60)


def survival_table(curve) -> list[dict]:
    """Survival at 6, 12, 24, 36 and 60 months: the step in force on that day, shown only
    while someone is still followed up (no estimate beyond the longest follow-up)."""
    if not curve.points:
        return []
    last_day = curve.points[-1][0]
    rows = []
    for months in SURVIVAL_MONTHS:
        day = round(months * 365.25 / 12)
        if day > last_day:
            break
        in_force = [p for p in curve.points if p[0] <= day][-1]
        rows.append(
            {
                "months": months,
                "survival": in_force[1],
                "low": in_force[2],
                "high": in_force[3],
                "percent": formats.quantity(100 * in_force[1], "share"),
                "interval": (
                    share_interval(in_force[2], in_force[3])
                    if in_force[2] is not None and in_force[3] is not None
                    else ""
                ),
            }
        )
    return rows


def survival_chart(curve) -> dict | None:
    """A step curve with its 95 % band (a polygon) and the median drawn."""
    if not curve.points or len(curve.points) < 2:
        return None
    last_day = max(p[0] for p in curve.points) or 1
    x_max = _nice_max(int(last_day / (365.25 / 12)) + 1)

    def x(day: float) -> str:
        return f"{LEFT + day / (x_max * 365.25 / 12) * (WIDTH - LEFT - RIGHT):.1f}"

    line, upper, lower = [], [], []
    previous = curve.points[0]
    for point in curve.points:
        day = point[0]
        line += [f"{x(day)},{_y(previous[1])}", f"{x(day)},{_y(point[1])}"]
        hi_prev = previous[3] if previous[3] is not None else previous[1]
        lo_prev = previous[2] if previous[2] is not None else previous[1]
        hi = point[3] if point[3] is not None else point[1]
        lo = point[2] if point[2] is not None else point[1]
        upper += [f"{x(day)},{_y(hi_prev)}", f"{x(day)},{_y(hi)}"]
        lower += [f"{x(day)},{_y(lo_prev)}", f"{x(day)},{_y(lo)}"]
        previous = point
    band = " ".join(upper + list(reversed(lower)))
    step = max(1, x_max // 5)
    return {
        **_frame(),
        "line": " ".join(line),
        "band": band,
        "median_y": _y(0.5),
        "median_x": x(curve.median_days) if curve.median_days is not None else None,
        "y_ticks": _y_ticks(),
        "x_ticks": [(x(m * 365.25 / 12), str(m)) for m in range(0, x_max + 1, step)],
    }


# Kaplan-Meier curves side by side: one curve per choice of one filter, the others shared.
COMPARE_BY = {
    "group": "Diagnosis group",
    "region": "Health region",
    "institution": "Hospital",
    "period": "Period of diagnosis",
}
MAX_COMPARED = 6
# Compared by default: the three adult-type diffuse gliomas (the first groups).
DEFAULT_GROUPS = list(DIAGNOSIS_GROUPS)[:3]


def comparison_choices(dimension: str) -> list[tuple[str, str]]:
    """(value, label) of every choice the dimension offers."""
    if dimension == "group":
        return [(slug, label) for slug, (label, _) in DIAGNOSIS_GROUPS.items()]
    if dimension == "region":
        return list(Institution.HealthRegion.choices)
    if dimension == "institution":
        return [
            (code, code)
            for code in Institution.objects.filter(kind=Institution.Kind.HOSPITAL)
            .order_by("code")
            .values_list("code", flat=True)
        ]
    if dimension == "period":
        this_year = timezone.localdate().year
        starts = range(this_year - this_year % 5 - 10, this_year + 1, 5)
        return [(f"{a}-{a + 4}", f"{a}–{a + 4}") for a in starts]
    return []


def survival_comparison(*, user: User, code: str, filters: dict, dimension: str, values):
    """One curve per chosen value of `dimension` (all values when none is chosen, up to
    six), each with the other filters as given; small hospital curves hidden as alone.
    Returns [(label, curve)]; BadFilter names a bad dimension or value."""
    if dimension not in COMPARE_BY:
        raise BadFilter({"compare": f"One of: {', '.join(COMPARE_BY)}."})
    choices = dict(comparison_choices(dimension))
    values = [v for v in values if v] or (
        DEFAULT_GROUPS if dimension == "group" else list(choices)[:MAX_COMPARED]
    )
    unknown = [v for v in values if v not in choices]
    if unknown:
        raise BadFilter({"compare_value": f"Not a choice of {dimension}: {', '.join(unknown)}."})
    if len(values) > MAX_COMPARED:
        raise BadFilter({"compare_value": f"At most {MAX_COMPARED} curves side by side."})
    curves = []
    for value in values:
        chosen = dict(filters)
        if dimension == "group":
            chosen["group"] = value
        elif dimension == "region":
            chosen["region"] = value
        elif dimension == "institution":
            chosen["institution"] = Institution.objects.get(
                code=value, kind=Institution.Kind.HOSPITAL
            )
        else:
            first, last = value.split("-")
            chosen["years"] = (int(first), int(last))
        curves.append((choices[value], survival_for(user=user, code=code, **chosen)))
    return curves


def comparison_chart(curves) -> dict | None:
    """The curves in one frame (steps only: overlapping bands would hide each other; each
    curve's band is in its own chart and in the API), with their medians in the table."""
    drawn = [(label, c) for label, c in curves if not c.suppressed and len(c.points) >= 2]
    if not drawn:
        return None
    last_day = max(p[0] for _, c in drawn for p in c.points) or 1
    x_max = _nice_max(int(last_day / (365.25 / 12)) + 1)

    def x(day: float) -> str:
        return f"{LEFT + day / (x_max * 365.25 / 12) * (WIDTH - LEFT - RIGHT):.1f}"

    lines = []
    for number, (label, curve) in enumerate(drawn):
        steps, previous = [], curve.points[0]
        for point in curve.points:
            steps += [f"{x(point[0])},{_y(previous[1])}", f"{x(point[0])},{_y(point[1])}"]
            previous = point
        lines.append({"label": label, "line": " ".join(steps), "number": number})
    step = max(1, x_max // 5)
    return {
        **_frame(),
        "lines": lines,
        "y_ticks": _y_ticks(),
        "x_ticks": [(x(m * 365.25 / 12), str(m)) for m in range(0, x_max + 1, step)],
    }


def comparison_rows(curves) -> list[dict]:
    """Per curve: patients, deaths, median with its interval, survival at 12 and 24 months."""
    from . import survival

    rows = []
    for number, (label, curve) in enumerate(curves):
        landmarks = {r["months"]: r for r in survival_table(curve)} if not curve.suppressed else {}

        def months(days):
            return None if days is None else round(days / survival.DAYS_PER_MONTH, 1)

        rows.append(
            {
                "number": number,
                "label": label,
                "curve": curve,
                "median": months(curve.median_days),
                "median_low": months(curve.median_low_days),
                "median_high": months(curve.median_high_days),
                "at_12": landmarks.get(12),
                "at_24": landmarks.get(24),
            }
        )
    return rows


def not_yet_reported(institution: Institution):
    """The Cancer Registry's notified cases of the hospital that match no register episode
    at all: whom its clinicians have not reported yet (oldest first)."""
    from django.db.models import Exists

    from .models import NotifiedCase

    return (
        NotifiedCase.objects.filter(institution=institution)
        .filter(~Exists(indicators.matching_episodes()))
        .order_by("diagnosis_date", "pk")
    )
