"""The member's inbox (API): the same items as the page, in the one list envelope
(consortium/pagination.py, by keyset), and marking them read. A member sees and marks
only their own items; another member's id answers 404."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response

from . import selectors, services
from .filters import InboxFilter
from .models import InboxItem
from .pagination import KeysetPagination


class InboxItemOutput(serializers.ModelSerializer):
    kind_label = serializers.CharField(source="get_kind_display")
    read = serializers.SerializerMethodField()

    class Meta:
        model = InboxItem
        fields = ["id", "kind", "kind_label", "text", "url", "created_at", "read", "read_at"]
        ref_name = "InboxItem"

    def get_read(self, item) -> bool:
        return item.read_at is not None


class UnreadOutput(serializers.Serializer):
    unread = serializers.IntegerField(help_text="Unread items (counted up to 100).")

    class Meta:
        ref_name = "InboxUnread"


def _log(request, items) -> None:
    services.patient_access_log(
        request,
        patient_ids=[item.patient_id for item in items if item.patient_id],
        page="api:inbox",
    )


class InboxListApi(GenericAPIView):
    """Your inbox, newest first: contact requests, screening news and released results,
    alerts, reports ready. `unread=true` for the unread only, `kind` for one kind,
    `sort=received` for oldest first. Each item's `url` is the page it is about. Pages
    by keyset."""

    serializer_class = InboxItemOutput
    queryset = InboxItem.objects.none()  # the schema's model; the selector lists the rows
    pagination_class = KeysetPagination
    filterset_class = InboxFilter

    @extend_schema(responses=InboxItemOutput(many=True))
    def get(self, request):
        page = self.paginate_queryset(self.filter_queryset(selectors.inbox_of(request.user)))
        _log(request, page)
        return self.get_paginated_response(InboxItemOutput(page, many=True).data)


class InboxItemApi(GenericAPIView):
    """One item of your inbox."""

    serializer_class = InboxItemOutput
    queryset = InboxItem.objects.none()

    def get(self, request, pk: int):
        item = selectors.inbox_item_get(user=request.user, pk=pk)
        _log(request, [item])
        return Response(InboxItemOutput(item).data)


class InboxReadApi(GenericAPIView):
    """Mark one item of your inbox read (again: no change)."""

    serializer_class = InboxItemOutput
    queryset = InboxItem.objects.none()

    @extend_schema(operation_id="v1_inbox_item_read", request=None, responses=InboxItemOutput)
    def post(self, request, pk: int):
        item = selectors.inbox_item_get(user=request.user, pk=pk)
        services.inbox_mark_read(user=request.user, item_ids=[item.pk])
        item.refresh_from_db()
        _log(request, [item])
        return Response(InboxItemOutput(item).data)


class InboxReadAllApi(GenericAPIView):
    """Mark items of your inbox read: those of `ids`, or every one when `ids` is left out.
    Ids that are not yours are ignored."""

    class InputSerializer(serializers.Serializer):
        ids = serializers.ListField(
            child=serializers.IntegerField(min_value=1, max_value=2**63 - 1),
            required=False,
            max_length=1000,
        )

        class Meta:
            ref_name = "InboxReadInput"

    class OutputSerializer(serializers.Serializer):
        marked = serializers.IntegerField(help_text="Items marked read now.")
        unread = serializers.IntegerField(help_text="Unread items left (counted up to 100).")

        class Meta:
            ref_name = "InboxReadOutput"

    serializer_class = InputSerializer

    @extend_schema(
        operation_id="v1_inbox_read_all", request=InputSerializer, responses=OutputSerializer
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        marked = services.inbox_mark_read(
            user=request.user, item_ids=data.validated_data.get("ids")
        )
        return Response({"marked": marked, "unread": selectors.inbox_unread_count(request.user)})


class InboxUnreadApi(GenericAPIView):
    """How many items of your inbox are unread (what the menu shows)."""

    serializer_class = UnreadOutput

    def get(self, request):
        return Response({"unread": selectors.inbox_unread_count(request.user)})
