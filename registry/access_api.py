"""The access-log review in the API, /api/v1/registry/access-log/ (consortium admins):
the same filters, flags and keyset pages as the page, and the CSV export."""

from django.core.exceptions import PermissionDenied
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.generics import GenericAPIView

from consortium.models import AccessLog
from consortium.pagination import KeysetPagination
from consortium.services import patient_access_log

from . import access_review, access_views
from .filters import AccessLogFilter


class AccessLogEntryOutput(serializers.ModelSerializer):
    member = serializers.SerializerMethodField()
    patient = serializers.CharField(
        source="register_number", allow_null=True, help_text="The register number."
    )
    page_name = serializers.SerializerMethodField(help_text="The page's name in words.")
    flags = serializers.SerializerMethodField(
        help_text="other_region, many_patients, outside_hours, new_care_relationship."
    )

    class Meta:
        model = AccessLog
        fields = ["id", "at", "member", "patient", "page", "page_name", "path", "method", "ip"]
        fields += ["flags"]
        ref_name = "AccessLogEntry"

    @extend_schema_field(
        {
            "type": "object",
            "properties": {
                "id": {"type": "integer"},
                "name": {"type": "string"},
                "email": {"type": "string"},
            },
        }
    )
    def get_member(self, entry) -> dict:
        return {"id": entry.user_id, "name": entry.user.full_name, "email": entry.user.email}

    def get_page_name(self, entry) -> str:
        return access_review.page_in_words(entry.page)

    def get_flags(self, entry) -> list[str]:
        return [flag for flag in access_review.FLAGS if getattr(entry, flag)]


class _Reviewing(GenericAPIView):
    queryset = AccessLog.objects.none()  # the schema's model; the rows come from with_flags
    filterset_class = AccessLogFilter

    def _entries(self, request):
        if not request.user.is_consortium_admin:
            raise PermissionDenied("Only consortium admins review the access log.")
        return self.filter_queryset(access_review.with_flags(AccessLog.objects.all()))


class AccessLogApi(_Reviewing):
    """Who looked at which patient: newest first (`sort=at` for oldest first), filtered by
    member (id), patient (register number), institution (code of the member's institution),
    since/until (local dates, both included), page and flag. `count` is null past 10,000."""

    serializer_class = AccessLogEntryOutput
    pagination_class = KeysetPagination

    def list_count(self, entries):
        return access_review.capped_count(entries)

    @extend_schema(responses=AccessLogEntryOutput(many=True))
    def get(self, request):
        page = access_review.mark_many_patients(self.paginate_queryset(self._entries(request)))
        patient_access_log(
            request, patient_ids=[e.patient_id for e in page], page="api:registry_access_log"
        )
        return self.get_paginated_response(self.serializer_class(page, many=True).data)


class AccessLogExportApi(_Reviewing):
    """The same entries as CSV (at most 50,000; narrow the filters past that)."""

    pagination_class = None

    @extend_schema(responses={(200, "text/csv"): OpenApiTypes.STR})
    def get(self, request):
        try:
            return access_views.export_response(request, self._entries(request))
        except access_review.TooManyToExport as error:
            raise ValidationError({"until": [str(error)]}) from None
