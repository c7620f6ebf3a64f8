"""Pages of the quality indicators. Thin: indicator_selectors decides what a member sees,
indicator_services writes; the list of a clinician's own patients writes the access log."""

import gzip
import hashlib
import re

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.middleware.csrf import get_token
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.utils.safestring import SafeString
from django.utils.text import compress_string
from django.utils.translation import get_language
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from consortium.context_processors import inbox_unread
from consortium.models import Institution
from consortium.services import outbox_enqueue, patient_access_log

from . import indicator_selectors as selectors
from . import indicator_services, tasks, vocabulary
from .exceptions import BadFilter
from .indicators import CATALOGUE, DEFINITIONS_VERSION, DIAGNOSIS_GROUPS

PAGE_SIZE = 50


def _int(value, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


# The whole indicators page, gzipped, is kept in Redis per view of it, so that a repeated
# view costs the sign-in's own queries, two short reads and a cache lookup (the target: p95
# under 300 ms with 20 clients at 50,000 patients). Everything that changes the answer is in
# the key or checked against it: the snapshot (a kept page is served only when it was made
# from the newest snapshot under the current generation of the snapshots' state, which every
# new, started, finished or failed snapshot bumps; a snapshot never changes once done), the
# filters, the published year, the language, which hospitals' exact figures the member sees
# (their role and institutions), and the member's own page chrome (menu by role, e-mail, the
# unread inbox count, the session's CSRF secret, as the sign-out form holds a token of it).
# Pages showing a message or a running computation's progress are never kept. The body is
# gzipped once when stored, with Django's BREACH-padded compress_string (django.utils.text).
PAGE_CACHE_SECONDS = 3600
ACCEPTS_GZIP = re.compile(r"\bgzip\b")


def _page_key(request, *parts) -> str:
    user = request.user
    if user.is_authenticated:
        secret = request.META.get("CSRF_COOKIE", "")
        viewer = (
            user.pk,
            user.email,
            user.role,
            user.is_superuser,
            user.is_staff,
            sorted(selectors.user_institution_ids(user)),
            hashlib.sha256(secret.encode()).hexdigest(),
            # The menu's unread inbox count is in the page: a new item makes a new page.
            inbox_unread(request),
        )
    else:
        viewer = ("anonymous",)
    digest = hashlib.sha256(repr((parts, viewer, get_language())).encode()).hexdigest()
    return f"registry:indicator-page:{digest}"


def _gzipped_response(request, body: bytes) -> HttpResponse:
    if ACCEPTS_GZIP.search(request.headers.get("Accept-Encoding", "")):
        response = HttpResponse(body)
        response["Content-Encoding"] = "gzip"
    else:
        response = HttpResponse(gzip.decompress(body))
    response["Content-Length"] = str(len(response.content))
    patch_vary_headers(response, ("Accept-Encoding", "Cookie"))
    return response


@never_cache
def indicator_list(request):
    if request.user.is_authenticated:
        get_token(request)  # the session's CSRF secret, in the key, is set before rendering
    published = selectors.published_year()
    asked_year = _int(request.GET.get("year"), None)
    if asked_year is not None and not 1990 <= asked_year <= 2100:
        asked_year = None  # not a year: the default one (and no cache entry per junk value)
    group = request.GET.get("group", "")
    group = group if group in DIAGNOSIS_GROUPS else ""
    region = request.GET.get("region", "")
    region = region if region in Institution.HealthRegion.values else ""
    key = _page_key(request, DEFINITIONS_VERSION, published, asked_year, group, region)
    # One Redis round trip: the snapshots' state and this view's kept page, which is
    # served only when made from the newest snapshot under the current generation.
    state, found = selectors.snapshot_state_cached(also=(key,))
    snapshot, years = state["newest"], state["years"]
    running = state["running"] if request.user.is_authenticated else None
    keep = snapshot is not None and running is None and not len(messages.get_messages(request))
    kept = found.get(key)
    if (
        keep
        and kept is not None
        and (kept["generation"], kept["snapshot"]) == (state["generation"], snapshot.pk)
    ):
        return _gzipped_response(request, kept["body"])
    if not request.user.is_authenticated:
        years = [y for y in years if y == published]
    year = asked_year if asked_year is not None else (published if published in years else 0)
    if year not in years:
        year = years[0] if years else published
    context = {
        "snapshot": snapshot,
        "running": running,
        "progress": indicator_services.snapshot_progress(running.pk) if running else None,
        "published_year": published,
        "groups": selectors.group_choices(),
        "regions": Institution.HealthRegion.choices,
        "definitions_version": DEFINITIONS_VERSION,
        "may_compute": request.user.is_authenticated and request.user.is_consortium_admin,
    }
    if snapshot is None:
        return render(request, "registry/indicators.html", context)
    may_list = request.user.is_authenticated and request.user.role == "clinician"
    context.update(
        years=years,
        year=year,
        group=group,
        group_label=DIAGNOSIS_GROUPS[group][0] if group else "All diagnoses",
        region=region,
        region_label=Institution.HealthRegion(region).label if region else "",
        may_list=may_list,
    )
    # The figures are rendered once per snapshot and view of them (shared by every member
    # who sees the same hospitals exactly) and kept too: a new member's first view of a
    # year others have seen renders the page's chrome only.
    exact = selectors.exact_institutions(request.user)
    sections_key = "registry:indicators:{}:{}:{}:{}:{}:{}".format(
        snapshot.pk,
        year,
        group,
        region,
        "all" if exact is None else ",".join(map(str, sorted(exact))),
        int(may_list),
    )
    sections = cache.get(sections_key)
    if sections is None:
        views = selectors.indicator_page(
            user=request.user, snapshot=snapshot, year=year, group=group, region=region
        )
        sections = render_to_string(
            "registry/_indicators_sections.html", {**context, "views": views}, request=request
        )
        cache.set(sections_key, sections, timeout=24 * 3600)
    context["sections"] = SafeString(sections)  # our own rendering, kept as it was
    page = render_to_string("registry/indicators.html", context, request=request)
    body = compress_string(page.encode())
    if keep:
        cache.set(
            key,
            {"generation": state["generation"], "snapshot": snapshot.pk, "body": body},
            timeout=PAGE_CACHE_SECONDS,
        )
    return _gzipped_response(request, body)


@require_POST
@login_required
def indicator_snapshot_request(request):
    if not request.user.is_consortium_admin:
        raise PermissionDenied("Admins start a new computation; the nightly one runs by itself.")
    snapshot = indicator_services.snapshot_request(by=request.user)
    outbox_enqueue(tasks.compute_indicator_snapshot, snapshot.pk)  # kept if the broker is down
    messages.success(request, "The indicators are being computed; the page shows them when done.")
    return redirect(reverse("registry:indicators"))


@never_cache
@login_required
def indicator_snapshot_status(request, snapshot_id: int):
    """A snapshot's page: what it is, its progress while it runs (the indicators page
    polls the fragment), and its reproductions from the change history."""
    from . import indicator_history
    from .models import IndicatorSnapshot

    try:
        snapshot = IndicatorSnapshot.objects.defer("history_marks").get(pk=snapshot_id)
    except IndicatorSnapshot.DoesNotExist:
        raise Http404("No such snapshot.") from None
    status = {"running": snapshot, "progress": indicator_services.snapshot_progress(snapshot.pk)}
    if request.headers.get("HX-Request"):
        return render(request, "registry/_indicator_snapshot_status.html", status)
    reproductions = list(snapshot.reproductions.all()[:20])
    for reproduction in reproductions:
        reproduction.progress = indicator_services.reproduction_progress(reproduction)
    return render(
        request,
        "registry/indicator_snapshot.html",
        {
            **status,
            "snapshot": snapshot,
            "cells": snapshot.cells.count(),
            "reproductions": reproductions,
            "may_reproduce": request.user.is_consortium_admin,
            "refusal": indicator_history.reproducible(snapshot),
            "show_differences": request.user.is_consortium_admin,
        },
    )


@require_POST
@login_required
def indicator_snapshot_reproduce(request, snapshot_id: int):
    from django.core.exceptions import ValidationError

    from .models import IndicatorSnapshot

    try:
        reproduction, new = indicator_services.reproduction_request(
            snapshot_id=snapshot_id, by=request.user
        )
    except IndicatorSnapshot.DoesNotExist:
        raise Http404("No such snapshot.") from None
    except ValidationError as error:
        messages.error(request, " ".join(error.message_dict["snapshot"]))
    else:
        if new:
            outbox_enqueue(tasks.reproduce_indicator_snapshot, reproduction.pk)
            messages.success(request, "The snapshot is being reproduced from the history.")
        else:
            messages.info(request, "A reproduction of this snapshot is already under way.")
    return redirect(reverse("registry:indicator_snapshot_status", args=[snapshot_id]))


@never_cache
@login_required
def indicator_reproduction_status(request, reproduction_id: int):
    """One reproduction's row: the snapshot's page polls it while it runs."""
    from .models import IndicatorReproduction

    reproduction = (
        IndicatorReproduction.objects.filter(pk=reproduction_id).select_related("snapshot").first()
    )
    if reproduction is None:
        raise Http404("No such reproduction.")
    reproduction.progress = indicator_services.reproduction_progress(reproduction)
    return render(
        request,
        "registry/_indicator_reproduction.html",
        {"reproduction": reproduction, "show_differences": request.user.is_consortium_admin},
    )


@never_cache
@login_required
def indicator_missed(request, code: str):
    indicator = CATALOGUE.get(code)
    if indicator is None:
        raise Http404("No such indicator.")
    if code == "coverage_notified":  # notified cases never reported are on the worklist
        return redirect(reverse("registry:worklist"))
    own = list(
        Institution.objects.filter(pk__in=selectors.user_institution_ids(request.user)).order_by(
            "code"
        )
    )
    chosen = next(
        (i for i in own if i.code == request.GET.get("institution")), own[0] if own else None
    )
    if chosen is None or not selectors.may_list_patients(request.user, chosen):
        raise PermissionDenied(
            "Clinicians see their own hospital's patients who did not meet an indicator; "
            "everyone else sees the counts."
        )
    year = _int(request.GET.get("year"), selectors.published_year())
    page = Paginator(
        selectors.missed_units(
            user=request.user, indicator=indicator, year=year, institution=chosen
        ),
        PAGE_SIZE,
    ).get_page(request.GET.get("page"))
    rows = list(page)
    patient_access_log(
        request, patient_ids=[r["patient_ref"] for r in rows], page="registry:indicator_missed"
    )
    labels = {code: t.label for code, t in vocabulary.TUMOUR_TYPES.items()}
    for row in rows:
        row["tumour"] = labels.get(row["unit_diagnosis"], "Diagnosis not given")
    return render(
        request,
        "registry/indicators_missed.html",
        {
            "indicator": indicator,
            "year": year,
            "chosen": chosen,
            "institutions": own,
            "page": page,
            "rows": rows,
        },
    )


@never_cache
@login_required
def survival_page(request):
    from . import survival

    code = request.GET.get("curve", "overall_survival")
    code = code if code in survival.CURVES else "overall_survival"
    errors = {}
    try:
        filters = selectors.survival_filters(request.GET)
    except BadFilter as error:
        errors = error.fields
        filters = {"group": "", "region": "", "institution": None, "years": None}
    curve = selectors.survival_for(user=request.user, code=code, **filters)
    compare = request.GET.get("compare", "")
    comparison = None
    if compare and not errors:
        try:
            curves = selectors.survival_comparison(
                user=request.user,
                code=code,
                filters=filters,
                dimension=compare,
                values=request.GET.getlist("compare_value"),
            )
            comparison = {
                "by": selectors.COMPARE_BY[compare],
                "chart": selectors.comparison_chart(curves),
                "rows": selectors.comparison_rows(curves),
            }
        except BadFilter as error:
            errors = error.fields
    return render(
        request,
        "registry/indicators_survival.html",
        {
            "curve": curve,
            "code": code,
            "curves": [(c.code, c.title) for c in survival.CURVES.values()],
            "filters": filters,
            "errors": errors,
            "params": request.GET,
            "groups": selectors.group_choices(),
            "regions": Institution.HealthRegion.choices,
            "hospitals": Institution.objects.filter(kind=Institution.Kind.HOSPITAL).order_by(
                "code"
            ),
            "chart": selectors.survival_chart(curve),
            "table": selectors.survival_table(curve),
            "left_out": [
                (survival.LEFT_OUT_LABELS.get(k, k), n) for k, n in sorted(curve.left_out.items())
            ],
            "median_months": curve.median_months,
            "median_ci_months": [
                None if d is None else round(d / survival.DAYS_PER_MONTH, 1)
                for d in (curve.median_low_days, curve.median_high_days)
            ],
            "compare": compare,
            "compare_by": selectors.COMPARE_BY,
            "compare_choices": {d: selectors.comparison_choices(d) for d in selectors.COMPARE_BY},
            "compare_values": request.GET.getlist("compare_value"),
            "comparison": comparison,
        },
    )


# --- Reports --------------------------------------------------------------------------------


def _report(request, report_id: int):
    from . import indicator_reports

    return get_object_or_404(indicator_reports.reports_visible_to(request.user), pk=report_id)


@never_cache
@login_required
def report_list(request):
    from . import indicator_reports

    if request.method == "POST":
        institution = None
        code = request.POST.get("institution", "")
        if code:
            hospitals = Institution.objects.filter(kind=Institution.Kind.HOSPITAL, code=code)
            if not request.user.is_consortium_admin:
                hospitals = hospitals.filter(pk__in=selectors.user_institution_ids(request.user))
            institution = hospitals.first()
            if institution is None:
                raise PermissionDenied("A hospital's report is for its own members and admins.")
        year = _int(request.POST.get("year"), selectors.published_year())
        report = indicator_reports.report_request(
            by=request.user, year=year, institution=institution
        )
        outbox_enqueue(tasks.generate_indicator_report, report.pk)
        return redirect(reverse("registry:indicator_report", args=[report.pk]))
    reports = list(indicator_reports.reports_visible_to(request.user)[:100])
    own = Institution.objects.filter(pk__in=selectors.user_institution_ids(request.user)).order_by(
        "code"
    )
    snapshot = selectors.newest_snapshot()
    return render(
        request,
        "registry/indicators_reports.html",
        {
            "reports": reports,
            "released": list(indicator_reports.released_editions(request.user)[:200]),
            "own": own,
            "years": selectors.available_years(snapshot) if snapshot else [],
        },
    )


@never_cache
@login_required
def report_detail(request, report_id: int):
    report = _report(request, report_id)
    template = (
        "registry/_indicator_report_status.html"
        if request.headers.get("HX-Request")
        else "registry/indicators_report.html"
    )
    return render(request, template, _report_context(request, report))


def _report_context(request, report, errors=()):
    from . import indicator_reports

    editions = indicator_reports.released_editions(request.user).filter(
        year=report.year, institution=report.institution_id
    )
    return {
        "report": report,
        "editions": list(editions) if report.month is None else [],
        "may_release": request.user.is_consortium_admin
        and report.status == report.Status.DONE
        and report.month is None
        and report.released_at is None,
        "errors": list(errors),
        "reason": request.POST.get("reason", ""),
    }


@require_POST
@login_required
def report_release(request, report_id: int):
    from django.core.exceptions import ValidationError

    from . import indicator_reports

    report = _report(request, report_id)
    try:
        indicator_reports.report_release(
            report_id=report.pk, by=request.user, reason=request.POST.get("reason", "")
        )
    except ValidationError as error:
        errors = [f"{field}: {m}" for field, msgs in error.message_dict.items() for m in msgs]
        context = _report_context(request, report, errors)
        return render(request, "registry/indicators_report.html", context, status=400)
    messages.success(request, "Released: this edition is now frozen.")
    return redirect(reverse("registry:indicator_report", args=[report.pk]))


DOWNLOADS = {
    "pdf": "application/pdf",
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def report_file(report, kind: str):
    """A finished report's file as a download response (the page and the API)."""
    from django.http import HttpResponse

    place = report.institution.code if report.institution_id else "national"
    edition = f"-edition{report.edition}" if report.edition else ""
    month = f"-{report.month:02d}" if report.month else ""
    name = f"nbtc-indicators-{place}-{report.year}{month}{edition}.{kind}"
    body = {"pdf": report.pdf, "csv": report.csv, "xlsx": report.xlsx}[kind]
    body = body.encode() if isinstance(body, str) else bytes(body or b"")
    response = HttpResponse(body, content_type=DOWNLOADS[kind])
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@never_cache
@login_required
def report_download(request, report_id: int, kind: str):
    report = _report(request, report_id)
    if report.status != report.Status.DONE or kind not in DOWNLOADS:
        raise Http404("The report is not ready.")
    return report_file(report, kind)


# --- The Cancer Registry's notified cases -------------------------------------------------------


@never_cache
@login_required
def notified_import(request):
    from django.core.exceptions import ValidationError

    from .models import NotifiedCaseImport

    if not request.user.is_consortium_admin:
        raise PermissionDenied("Admins import the Cancer Registry's notified cases.")
    errors: list[str] = []
    if request.method == "POST":
        year = _int(request.POST.get("year"), 0)
        upload = request.FILES.get("file")
        if not 1990 <= year <= 2100:
            errors.append("year: a year, e.g. 2025.")
        if upload is None:
            errors.append("file: choose the CSV file.")
        if not errors:
            try:
                text = upload.read().decode("utf-8-sig")
                source = indicator_services.notified_cases_import(
                    by=request.user, year=year, text=text, filename=upload.name
                )
            except UnicodeDecodeError:
                errors.append("file: the file is not UTF-8 text.")
            except ValidationError as error:
                errors += [m for messages_ in error.message_dict.values() for m in messages_]
            else:
                messages.success(
                    request, f"Imported {source.cases} notified cases for {source.year}."
                )
                return redirect(reverse("registry:indicator_notified"))
    return render(
        request,
        "registry/indicators_notified.html",
        {
            "imports": NotifiedCaseImport.objects.select_related("imported_by")[:20],
            "errors": errors,
        },
    )


# --- Monthly-report subscriptions ------------------------------------------------------------


@never_cache
@login_required
def subscription_list(request):
    from django.core.exceptions import ValidationError

    from . import indicator_subscriptions

    errors: list[str] = []
    if request.method == "POST":
        try:
            indicator_subscriptions.subscription_create(
                user=request.user,
                institution_code=request.POST.get("institution", ""),
                region=request.POST.get("region", ""),
                indicators=request.POST.getlist("indicators"),
            )
        except ValidationError as error:
            errors = [f"{field}: {m}" for field, msgs in error.message_dict.items() for m in msgs]
        else:
            messages.success(request, "Subscribed: a link to the report comes on the 1st.")
            return redirect(reverse("registry:indicator_subscriptions"))
    own = Institution.objects.filter(
        kind=Institution.Kind.HOSPITAL, pk__in=selectors.user_institution_ids(request.user)
    ).order_by("code")
    if request.user.is_consortium_admin:
        own = Institution.objects.filter(kind=Institution.Kind.HOSPITAL).order_by("code")
    subscriptions = indicator_subscriptions.subscriptions_of(request.user)
    for s in subscriptions:
        s.titles = [CATALOGUE[c].title for c in s.indicators if c in CATALOGUE]
    return render(
        request,
        "registry/indicators_subscriptions.html",
        {
            "subscriptions": subscriptions,
            "hospitals": own,
            "regions": Institution.HealthRegion.choices,
            "catalogue": list(CATALOGUE.values()),
            "errors": errors,
            "chosen": request.POST.getlist("indicators"),
        },
        status=400 if errors else 200,
    )


@require_POST
@login_required
def subscription_delete(request, subscription_id: int):
    from . import indicator_subscriptions

    try:
        indicator_subscriptions.subscription_delete(
            user=request.user, subscription_id=subscription_id
        )
    except indicator_subscriptions.IndicatorSubscription.DoesNotExist:
        raise Http404("No such subscription.") from None
    messages.success(request, "The subscription is ended.")
    return redirect(reverse("registry:indicator_subscriptions"))
