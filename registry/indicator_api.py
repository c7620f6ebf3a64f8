"""API of the quality indicators: the newest snapshot's figures, the same as the page
(suppression included), for scripts and other registers."""

from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.generics import GenericAPIView, ListAPIView
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from consortium.models import Institution

from . import indicator_selectors as selectors
from . import survival
from .exceptions import BadFilter
from .indicators import CATALOGUE, DIAGNOSIS_GROUPS


class IndicatorFigureSerializer(serializers.Serializer):
    code = serializers.CharField()
    title = serializers.CharField()
    year = serializers.IntegerField()
    institution = serializers.CharField(allow_null=True, help_text="Hospital code; null: a total.")
    region = serializers.CharField(allow_blank=True, help_text="Health region of a regional total.")
    diagnosis_group = serializers.CharField(allow_blank=True)
    numerator = serializers.IntegerField(allow_null=True)
    denominator = serializers.IntegerField(allow_null=True)
    value = serializers.FloatField(allow_null=True, help_text="A proportion between 0 and 1.")
    ci_low = serializers.FloatField(allow_null=True, help_text="95 % Wilson interval, low.")
    ci_high = serializers.FloatField(allow_null=True, help_text="95 % Wilson interval, high.")
    target_moderate = serializers.FloatField(allow_null=True)
    target_high = serializers.FloatField(allow_null=True)
    attainment = serializers.CharField(allow_null=True, help_text="high, moderate, low or null.")
    left_out = serializers.DictField(child=serializers.IntegerField())
    suppressed = serializers.BooleanField(help_text="A small cell: its figures are null.")
    snapshot_at = serializers.DateTimeField(help_text="The data as of this time.")
    definitions_version = serializers.CharField()


def _row(figure, *, group: str, snapshot) -> dict:
    indicator = figure.indicator
    return {
        "code": indicator.code,
        "title": indicator.title,
        "year": figure.year,
        "institution": figure.institution.code if figure.institution else None,
        "region": figure.region,
        "diagnosis_group": group,
        "numerator": figure.numerator,
        "denominator": figure.denominator,
        "value": figure.value,
        "ci_low": figure.ci_low,
        "ci_high": figure.ci_high,
        "target_moderate": indicator.target_moderate,
        "target_high": indicator.target_high,
        "attainment": figure.attainment,
        "left_out": figure.left_out,
        "suppressed": figure.suppressed,
        "snapshot_at": snapshot.as_of,
        "definitions_version": snapshot.definitions_version,
    }


class IndicatorPagination(PageNumberPagination):
    """Every indicator of a year for every hospital fits one page (15 x 10 rows)."""

    page_size = 500


class IndicatorListOutput(serializers.Serializer):
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = IndicatorFigureSerializer(many=True)
    snapshot_at = serializers.DateTimeField(allow_null=True, help_text="The data as of this time.")
    definitions_version = serializers.CharField(allow_blank=True)

    class Meta:
        ref_name = "IndicatorList"


class IndicatorListApi(GenericAPIView):
    """Every quality indicator of a year: the national figure, the region's when a region
    is named, and each hospital's (or the one named). Hospitals' small cells (denominator
    1-4, and the next smallest where one alone would follow from a total) come back null
    with `suppressed: true`, except to admins and the hospital's own members. Anonymous
    callers get the published year only."""

    permission_classes = [AllowAny]
    serializer_class = IndicatorListOutput
    pagination_class = IndicatorPagination

    @extend_schema(
        parameters=[
            OpenApiParameter("year", int, description="Year (default: the published year)."),
            OpenApiParameter("institution", str, description="Hospital code, e.g. OUS."),
            OpenApiParameter(
                "region", str, enum=list(Institution.HealthRegion.values), description="Region."
            ),
            OpenApiParameter(
                "diagnosis_group", str, enum=list(DIAGNOSIS_GROUPS), description="Diagnosis group."
            ),
            OpenApiParameter("code", str, enum=list(CATALOGUE), description="One indicator."),
            OpenApiParameter("page", int, description="A page number within the results."),
        ],
        responses=IndicatorListOutput,
    )
    def get(self, request):
        params = request.query_params
        errors = {}
        published = selectors.published_year()
        try:
            year = int(params.get("year") or published)
        except ValueError:
            year = None
            errors["year"] = "A year, e.g. 2025."
        group = params.get("diagnosis_group", "")
        if group and group not in DIAGNOSIS_GROUPS:
            errors["diagnosis_group"] = f"One of: {', '.join(DIAGNOSIS_GROUPS)}."
        region = params.get("region", "")
        if region and region not in Institution.HealthRegion.values:
            errors["region"] = f"One of: {', '.join(Institution.HealthRegion.values)}."
        institution = params.get("institution", "")
        if (
            institution
            and not Institution.objects.filter(
                code=institution, kind=Institution.Kind.HOSPITAL
            ).exists()
        ):
            errors["institution"] = f"No hospital with the code {institution}."
        code = params.get("code", "")
        if code and code not in CATALOGUE:
            errors["code"] = f"One of: {', '.join(CATALOGUE)}."
        if errors:
            raise serializers.ValidationError(errors)
        if not request.user.is_authenticated and year != published:
            raise PermissionDenied(f"Anonymous callers see the published year, {published}.")
        snapshot = selectors.newest_snapshot()
        views = []
        if snapshot is not None:  # nothing computed yet (a new register): no figures
            views = selectors.indicator_page(
                user=request.user,
                snapshot=snapshot,
                year=year,
                group=group,
                region=region,
                institution=institution,
                codes=[code] if code else None,
                with_trends=False,
            )
        rows = []
        for view in views:
            figures = [view.national, view.regional] if not institution else []
            for figure in [*figures, *view.hospitals]:
                if figure is not None:
                    rows.append(_row(figure, group=group, snapshot=snapshot))
        response = self.get_paginated_response(self.paginate_queryset(rows))
        response.data.update(
            snapshot_at=snapshot.as_of if snapshot else None,
            definitions_version=snapshot.definitions_version if snapshot else "",
        )
        return response


class SurvivalPointSerializer(serializers.Serializer):
    day = serializers.IntegerField(help_text="Days from the time origin.")
    survival = serializers.FloatField(help_text="Kaplan-Meier estimate, 0 to 1.")
    ci_low = serializers.FloatField(allow_null=True, help_text="95 % band (log-log), low.")
    ci_high = serializers.FloatField(allow_null=True, help_text="95 % band (log-log), high.")
    at_risk = serializers.IntegerField()


class SurvivalSerializer(serializers.Serializer):
    code = serializers.CharField()
    title = serializers.CharField()
    origin = serializers.CharField(help_text="What time is counted from.")
    as_of = serializers.DateField(help_text="Living patients are censored at this date.")
    patients = serializers.IntegerField(allow_null=True)
    deaths = serializers.IntegerField(allow_null=True)
    left_out = serializers.DictField(child=serializers.IntegerField())
    median_days = serializers.FloatField(allow_null=True)
    median_ci_days = serializers.ListField(child=serializers.FloatField(allow_null=True))
    suppressed = serializers.BooleanField(help_text="Fewer than 5 patients: no curve shown.")
    points = SurvivalPointSerializer(many=True)


class SurvivalApi(GenericAPIView):
    """Kaplan-Meier curve points (overall_survival from diagnosis; the survival indicators
    from the first surgery), with the 95 % band and the median survival. A hospital's
    curve of fewer than 5 patients is suppressed except for admins and its own members."""

    serializer_class = SurvivalSerializer
    pagination_class = None

    @extend_schema(
        parameters=[
            OpenApiParameter("diagnosis_group", str, enum=list(DIAGNOSIS_GROUPS)),
            OpenApiParameter("institution", str, description="Hospital code, e.g. OUS."),
            OpenApiParameter("region", str, enum=list(Institution.HealthRegion.values)),
            OpenApiParameter("year_from", int, description="First year (of the time origin)."),
            OpenApiParameter("year_to", int, description="Last year (of the time origin)."),
        ],
        responses=SurvivalSerializer,
    )
    def get(self, request, code: str):
        if code not in survival.CURVES:
            raise NotFound(f"No survival curve {code}; one of: {', '.join(survival.CURVES)}.")
        try:
            filters = selectors.survival_filters(request.query_params)
        except BadFilter as error:
            raise serializers.ValidationError(error.fields) from None
        curve = selectors.survival_for(user=request.user, code=code, **filters)
        return Response(selectors.survival_json(curve))


class SurvivalComparedSerializer(serializers.Serializer):
    label = serializers.CharField()
    curve = SurvivalSerializer()

    class Meta:
        ref_name = "SurvivalCompared"


class SurvivalComparisonSerializer(serializers.Serializer):
    """An object, not a bare array, like every other answer of the API: room to add to it."""

    compare = serializers.CharField()
    curves = SurvivalComparedSerializer(many=True)

    class Meta:
        ref_name = "SurvivalComparison"


class SurvivalCompareApi(GenericAPIView):
    """Kaplan-Meier curves side by side: one curve per chosen value of one filter
    (`compare`: group, the default, region, institution or period; `compare_value`
    repeated, none: the usual ones, at most six), the other filters shared. Small hospital
    curves suppressed as alone."""

    serializer_class = SurvivalComparisonSerializer
    pagination_class = None
    filter_backends = []

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "compare", str, enum=list(selectors.COMPARE_BY), description="Default: group."
            ),
            OpenApiParameter("compare_value", str, many=True, description="e.g. OUS, 2015-2019"),
            OpenApiParameter("diagnosis_group", str, enum=list(DIAGNOSIS_GROUPS)),
            OpenApiParameter("institution", str, description="Hospital code, e.g. OUS."),
            OpenApiParameter("region", str, enum=list(Institution.HealthRegion.values)),
            OpenApiParameter("year_from", int, description="First year (of the time origin)."),
            OpenApiParameter("year_to", int, description="Last year (of the time origin)."),
        ],
        responses=SurvivalComparisonSerializer,
    )
    def get(self, request, code: str):
        if code not in survival.CURVES:
            raise NotFound(f"No survival curve {code}; one of: {', '.join(survival.CURVES)}.")
        try:
            filters = selectors.survival_filters(request.query_params)
            dimension = request.query_params.get("compare") or "group"
            curves = selectors.survival_comparison(
                user=request.user,
                code=code,
                filters=filters,
                dimension=dimension,
                values=request.query_params.getlist("compare_value"),
            )
        except BadFilter as error:
            raise serializers.ValidationError(error.fields) from None
        return Response(
            {
                "compare": dimension,
                "curves": [
                    {"label": label, "curve": selectors.survival_json(c)} for label, c in curves
                ],
            }
        )


# --- Reports ---------------------------------------------------------------------------------


class IndicatorReportSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    year = serializers.IntegerField()
    month = serializers.IntegerField(allow_null=True)
    institution = serializers.CharField(
        source="institution.code", allow_null=True, default=None, help_text="Null: national."
    )
    status = serializers.CharField()
    progress = serializers.IntegerField(help_text="Percent done.")
    progress_text = serializers.CharField()
    requested_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    snapshot_at = serializers.DateTimeField(source="snapshot.as_of", allow_null=True, default=None)
    edition = serializers.IntegerField(allow_null=True, help_text="Released edition, or null.")
    released_at = serializers.DateTimeField(allow_null=True)
    correction_reason = serializers.CharField()
    corrects = serializers.IntegerField(source="corrects_id", allow_null=True)
    downloads = serializers.SerializerMethodField()
    error = serializers.CharField()

    class Meta:
        ref_name = "IndicatorReport"

    def get_downloads(self, report) -> dict[str, str]:
        if report.status != report.Status.DONE:
            return {}
        request = self.context["request"]
        return {
            kind: request.build_absolute_uri(
                reverse("api:registry_indicator_report_file", args=[report.pk, kind])
            )
            for kind in ("pdf", "csv", "xlsx")
        }


class IndicatorReportRequest(serializers.Serializer):
    year = serializers.IntegerField(min_value=1990, max_value=2100)
    institution = serializers.CharField(
        required=False, allow_blank=True, help_text="Hospital code; empty for the national report."
    )


class IndicatorReportRelease(serializers.Serializer):
    reason = serializers.CharField(
        required=False, allow_blank=True, help_text="Required for a correction (edition 2, ...)."
    )


def _reports(request):
    from . import indicator_reports

    if request is None or not request.user.is_authenticated:  # the schema's fake request
        return indicator_reports.IndicatorReport.objects.none()
    return indicator_reports.reports_visible_to(request.user).select_related("snapshot")


class IndicatorReportListApi(ListAPIView):
    """Indicator reports the member may see (national ones to every member, a hospital's to
    its members and the admins); POST queues a new one, made in the background: poll it
    until its status is `done`, then fetch its files."""

    serializer_class = IndicatorReportSerializer

    def get_queryset(self):
        return _reports(self.request)

    @extend_schema(request=IndicatorReportRequest, responses={202: IndicatorReportSerializer})
    def post(self, request):
        from consortium.services import outbox_enqueue

        from . import indicator_reports, tasks

        data = IndicatorReportRequest(data=request.data)
        data.is_valid(raise_exception=True)
        institution = None
        code = data.validated_data.get("institution", "")
        if code:
            hospitals = Institution.objects.filter(kind=Institution.Kind.HOSPITAL, code=code)
            if not hospitals.exists():
                raise serializers.ValidationError({"institution": f"No hospital with code {code}."})
            if not request.user.is_consortium_admin:
                hospitals = hospitals.filter(pk__in=selectors.user_institution_ids(request.user))
            institution = hospitals.first()
            if institution is None:
                raise PermissionDenied("A hospital's report is for its own members and admins.")
        report = indicator_reports.report_request(
            by=request.user, year=data.validated_data["year"], institution=institution
        )
        outbox_enqueue(tasks.generate_indicator_report, report.pk)
        report = self.get_queryset().get(pk=report.pk)
        return Response(self.get_serializer(report).data, status=202)


class IndicatorReportDetailApi(GenericAPIView):
    serializer_class = IndicatorReportSerializer
    pagination_class = None

    def get_queryset(self):
        return _reports(self.request)

    def get(self, request, report_id: int):
        return Response(self.get_serializer(self._get(report_id)).data)

    def _get(self, report_id: int):
        try:
            return self.get_queryset().get(pk=report_id)
        except self.get_queryset().model.DoesNotExist:
            raise NotFound("No such report.") from None


class IndicatorReportReleaseApi(IndicatorReportDetailApi):
    """Admins release a finished annual report as the next edition of its year and place:
    frozen from then on. A later edition is a correction and needs its reason."""

    @extend_schema(request=IndicatorReportRelease, responses=IndicatorReportSerializer)
    def post(self, request, report_id: int):
        from . import indicator_reports

        report = self._get(report_id)
        data = IndicatorReportRelease(data=request.data)
        data.is_valid(raise_exception=True)
        indicator_reports.report_release(
            report_id=report.pk, by=request.user, reason=data.validated_data.get("reason", "")
        )
        return Response(self.get_serializer(self._get(report_id)).data)


class IndicatorReportFileApi(IndicatorReportDetailApi):
    """A finished report's file: pdf, csv or xlsx."""

    @extend_schema(
        operation_id="v1_registry_indicator_report_file",
        responses={(200, "application/octet-stream"): bytes},
    )
    def get(self, request, report_id: int, kind: str):
        from .indicator_views import DOWNLOADS, report_file

        report = self.get_queryset().defer(None).filter(pk=report_id).first()
        if report is None or report.status != report.Status.DONE or kind not in DOWNLOADS:
            raise NotFound("No such report file (or the report is not ready).")
        return report_file(report, kind)


# --- Monthly-report subscriptions --------------------------------------------------------------


class IndicatorSubscriptionSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    institution = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        help_text="Hospital code (one of your own); empty for the national report.",
    )
    region = serializers.CharField(required=False, allow_blank=True, default="")
    indicators = serializers.ListField(
        child=serializers.CharField(), required=False, default=list, help_text="Empty: all."
    )
    created_at = serializers.DateTimeField(read_only=True)

    class Meta:
        ref_name = "IndicatorSubscription"

    def to_representation(self, subscription):
        return {
            "id": subscription.pk,
            "institution": subscription.institution.code if subscription.institution_id else "",
            "region": subscription.region,
            "indicators": subscription.indicators,
            "created_at": serializers.DateTimeField().to_representation(subscription.created_at),
        }


class IndicatorSubscriptionListApi(ListAPIView):
    """Your monthly indicator reports: each month an e-mail with a link to the report (no
    figures, no patient data). POST subscribes."""

    serializer_class = IndicatorSubscriptionSerializer

    def get_queryset(self):
        from .models import IndicatorSubscription

        if not self.request.user.is_authenticated:  # the schema's fake request
            return IndicatorSubscription.objects.none()
        return IndicatorSubscription.objects.filter(user=self.request.user).select_related(
            "institution"
        )

    @extend_schema(
        request=IndicatorSubscriptionSerializer, responses={201: IndicatorSubscriptionSerializer}
    )
    def post(self, request):
        from . import indicator_subscriptions

        data = IndicatorSubscriptionSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        subscription = indicator_subscriptions.subscription_create(
            user=request.user,
            institution_code=data.validated_data["institution"],
            region=data.validated_data["region"],
            indicators=data.validated_data["indicators"],
        )
        return Response(IndicatorSubscriptionSerializer(subscription).data, status=201)


class IndicatorSubscriptionDetailApi(GenericAPIView):
    serializer_class = IndicatorSubscriptionSerializer
    pagination_class = None

    def _get(self, subscription_id: int):
        from .models import IndicatorSubscription

        subscription = (
            IndicatorSubscription.objects.filter(user=self.request.user, pk=subscription_id)
            .select_related("institution")
            .first()
        )
        if subscription is None:
            raise NotFound("No such subscription.")
        return subscription

    def get(self, request, subscription_id: int):
        return Response(self.get_serializer(self._get(subscription_id)).data)

    @extend_schema(responses={204: None})
    def delete(self, request, subscription_id: int):
        self._get(subscription_id).delete()
        return Response(status=204)


# --- Snapshots ---------------------------------------------------------------------------------


class IndicatorSnapshotSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    status = serializers.CharField()
    requested_at = serializers.DateTimeField()
    as_of = serializers.DateTimeField(allow_null=True, help_text="The data as of this moment.")
    finished_at = serializers.DateTimeField(allow_null=True)
    definitions_version = serializers.CharField()
    progress = serializers.SerializerMethodField()
    error = serializers.CharField()

    class Meta:
        ref_name = "IndicatorSnapshot"

    def get_progress(self, snapshot) -> dict:
        """Percent done and what is being counted, while it runs."""
        from . import indicator_services

        if snapshot.status == snapshot.Status.DONE:
            return {"percent": 100, "text": "Done"}
        return indicator_services.snapshot_progress(snapshot.pk)


def _snapshots():
    from .models import IndicatorSnapshot

    return IndicatorSnapshot.objects.order_by("-requested_at", "-id")


class IndicatorSnapshotListApi(ListAPIView):
    """The indicator snapshots, newest first (nightly and on demand). POST (admins) starts
    a computation now; poll its detail for the progress."""

    serializer_class = IndicatorSnapshotSerializer

    def get_queryset(self):
        return _snapshots()

    @extend_schema(request=None, responses={202: IndicatorSnapshotSerializer})
    def post(self, request):
        from consortium.services import outbox_enqueue

        from . import indicator_services, tasks

        if not request.user.is_consortium_admin:
            raise PermissionDenied("Admins start a computation; the nightly one runs by itself.")
        snapshot = indicator_services.snapshot_request(by=request.user)
        outbox_enqueue(tasks.compute_indicator_snapshot, snapshot.pk)
        return Response(self.get_serializer(snapshot).data, status=202)


class IndicatorSnapshotDetailApi(GenericAPIView):
    serializer_class = IndicatorSnapshotSerializer
    pagination_class = None

    def get(self, request, snapshot_id: int):
        snapshot = _snapshots().filter(pk=snapshot_id).first()
        if snapshot is None:
            raise NotFound("No such snapshot.")
        return Response(self.get_serializer(snapshot).data)


# --- Reproductions of a snapshot from the change history ---------------------------------------


class IndicatorReproductionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    snapshot = serializers.IntegerField(source="snapshot_id")
    status = serializers.CharField()
    requested_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    exact = serializers.BooleanField(
        allow_null=True, help_text="Rebuilt from the snapshot's history marks (not by time)."
    )
    cells = serializers.IntegerField(allow_null=True, help_text="Cells compared.")
    equal = serializers.BooleanField(
        allow_null=True, help_text="Every stored cell came out the same; null until done."
    )
    differing_indicators = serializers.ListField(child=serializers.CharField())
    differences_total = serializers.IntegerField()
    differences = serializers.SerializerMethodField()
    progress = serializers.SerializerMethodField()
    error = serializers.CharField()

    class Meta:
        ref_name = "IndicatorReproduction"

    def get_differences(self, reproduction) -> list[str] | None:
        """The first differing cells with their counts: admins only (null for others)."""
        request = self.context.get("request")
        if request is None or not request.user.is_consortium_admin:
            return None
        return reproduction.differences

    def get_progress(self, reproduction) -> dict:
        """Percent done and what is being counted, while it runs."""
        from . import indicator_services

        return indicator_services.reproduction_progress(reproduction)


class IndicatorSnapshotReproductionListApi(ListAPIView):
    """A snapshot's reproductions from the change history, newest first. POST (admins)
    queues one (202; while one is queued or running, that one is answered, 200); poll
    `/indicator-reproductions/<id>/` for its progress and result."""

    serializer_class = IndicatorReproductionSerializer

    def _snapshot(self):
        from .models import IndicatorSnapshot

        snapshot = IndicatorSnapshot.objects.filter(pk=self.kwargs["snapshot_id"]).first()
        if snapshot is None:
            raise NotFound("No such snapshot.")
        return snapshot

    def get_queryset(self):
        from .models import IndicatorReproduction

        if getattr(self, "swagger_fake_view", False):
            return IndicatorReproduction.objects.none()
        return self._snapshot().reproductions.all()

    @extend_schema(
        request=None,
        responses={202: IndicatorReproductionSerializer, 200: IndicatorReproductionSerializer},
    )
    def post(self, request, snapshot_id: int):
        from django.core.exceptions import PermissionDenied as DjangoPermissionDenied

        from consortium.services import outbox_enqueue

        from . import indicator_services, tasks

        snapshot = self._snapshot()
        try:
            reproduction, new = indicator_services.reproduction_request(
                snapshot_id=snapshot.pk, by=request.user
            )
        except DjangoPermissionDenied as error:
            raise PermissionDenied(str(error)) from error
        if new:
            outbox_enqueue(tasks.reproduce_indicator_snapshot, reproduction.pk)
        return Response(self.get_serializer(reproduction).data, status=202 if new else 200)


class IndicatorReproductionDetailApi(GenericAPIView):
    serializer_class = IndicatorReproductionSerializer
    pagination_class = None

    def get(self, request, reproduction_id: int):
        from .models import IndicatorReproduction

        reproduction = IndicatorReproduction.objects.filter(pk=reproduction_id).first()
        if reproduction is None:
            raise NotFound("No such reproduction.")
        return Response(self.get_serializer(reproduction).data)
