"""The access-log review for consortium admins: who looked at which patient, when and on
which page, with the automatic flags (access_review). The page shows register numbers, so
it is itself access-logged."""

import io

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache

from consortium.filters import keyset_page_for, without_blanks
from consortium.services import patient_access_log

from . import access_review
from .filters import AccessLogFilter

PAGE_SIZE = 50


def require_reviewer(user) -> None:
    if not user.is_consortium_admin:
        raise PermissionDenied("Only consortium admins review the access log.")


def _filters(request) -> AccessLogFilter:
    entries = access_review.with_flags(access_review.AccessLog.objects.all())
    return AccessLogFilter(without_blanks(request.GET), queryset=entries, request=request)


@never_cache
@login_required
def access_review_page(request):
    require_reviewer(request.user)
    filters = _filters(request)
    page, errors = keyset_page_for(request, filters, size=PAGE_SIZE)
    patient_access_log(
        request, patient_ids=[e.patient_id for e in page], page="registry:access_review"
    )
    access_review.mark_many_patients(page.rows)
    for entry in page:
        entry.page_words = access_review.page_in_words(entry.page)
        entry.flags = access_review.flags_of(entry)
    return render(
        request,
        "registry/access_review.html",
        {
            "filters": filters,
            "errors": errors,
            "page": page,
            "count": access_review.capped_count(filters.queryset if errors else filters.qs),
            "cap": access_review.COUNT_CAP,
            "flags": access_review.FLAGS,
            "sort": filters.sort_value,
            "keep": without_blanks(request.GET),
            "export_query": without_blanks(request.GET).urlencode(),
        },
        status=400 if errors else 200,
    )


def export_response(request, entries) -> HttpResponse:
    """The filtered entries as a CSV download (at most EXPORT_LIMIT rows), logged like
    any page that names patients."""
    if access_review.capped_count(entries, access_review.EXPORT_LIMIT) is None:
        raise access_review.TooManyToExport(
            f"More than {access_review.EXPORT_LIMIT:,} entries match: narrow the period or "
            "the member to export them.".replace(",", " ")
        )
    stream = io.StringIO()
    access_review.write_csv(stream, entries)
    patient_access_log(
        request,
        patient_ids=list(entries.order_by().values_list("patient_id", flat=True).distinct()),
        page="registry:access_review_export",
    )
    response = HttpResponse(stream.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="access-log.csv"'
    return response


@never_cache
@login_required
def access_review_export(request):
    require_reviewer(request.user)
    filters = _filters(request)
    if not filters.is_valid():
        return access_review_page(request)
    try:
        return export_response(request, filters.qs)
    except access_review.TooManyToExport as error:
        return HttpResponse(str(error), status=400, content_type="text/plain; charset=utf-8")
