"""REST API of the shared core, and the one error format every endpoint answers with.

Errors look like {"message": "...", "extra": {"fields": {"name": ["..."]}}}
(the shape HackSoft's Django Styleguide proposes,
https://github.com/HackSoftware/Django-Styleguide#errors--exception-handling)."""

from allauth.mfa.utils import is_mfa_enabled
from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from django.shortcuts import get_object_or_404
from django.views import defaults
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView
from rest_framework.views import exception_handler as drf_exception_handler

from . import selectors, services
from .exceptions import EditConflict
from .filters import MemberFilter
from .models import Institution, NetworkGroup, Role, User
from .pagination import KeysetPagination


def exception_handler(exc, context):
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(
            exc.message_dict
            if hasattr(exc, "error_dict")
            else {api_settings.NON_FIELD_ERRORS_KEY: exc.messages}
        )
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    elif isinstance(exc, EditConflict):
        return Response({"message": str(exc), "extra": {}}, status=status.HTTP_409_CONFLICT)

    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # an unexpected error stays a 500; bugs are not silenced
    if isinstance(exc, exceptions.ValidationError):
        detail = (
            exc.detail
            if isinstance(exc.detail, dict)
            else {api_settings.NON_FIELD_ERRORS_KEY: exc.detail}
        )
        fields = "; ".join(
            f"{field}: {' '.join(map(str, errors if isinstance(errors, list) else [errors]))}"
            for field, errors in detail.items()
        )
        response.data = {"message": f"Invalid input. {fields}", "extra": {"fields": detail}}
    else:
        response.data = {
            "message": str(exc.detail) if hasattr(exc, "detail") else str(exc),
            "extra": {},
        }
    return response


def _outside_drf(default_view, status_code: int, message: str):
    """Django's own error page for a request that never reached a DRF view (an API URL
    that matches no route, a body over the size limit): in the one error shape under
    /api/, the HTML page elsewhere."""

    def view(request, exception=None):
        if request.path.startswith("/api/"):
            return JsonResponse({"message": message, "extra": {}}, status=status_code)
        return default_view(request, exception) if exception is not None else default_view(request)

    return view


bad_request = _outside_drf(defaults.bad_request, 400, "Bad request.")
permission_denied = _outside_drf(defaults.permission_denied, 403, "Permission denied.")
page_not_found = _outside_drf(defaults.page_not_found, 404, "Not found.")
server_error = _outside_drf(defaults.server_error, 500, "Server error.")


class CategorySerializer(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()
    parent = serializers.CharField(source="parent.name", default=None)


class GroupOutputSerializer(serializers.ModelSerializer):
    category = CategorySerializer()
    url = serializers.CharField(source="get_absolute_url")
    other_facts = serializers.ListField(child=serializers.ListField(child=serializers.CharField()))

    class Meta:
        model = NetworkGroup
        fields = [
            "slug",
            "name",
            "acronym",
            "category",
            "cancer_types",
            "scope",
            "participants",
            "countries",
            "associate_countries",
            "focus",
            "key_activities",
            "website_url",
            "website_label",
            "website_note",
            "other_facts",
            "version",
            "updated_at",
            "url",
        ]


class GroupFilterSerializer(serializers.Serializer):
    search = serializers.CharField(required=False, allow_blank=True, max_length=200)
    country = serializers.RegexField(
        r"^[A-Za-z]{2}$",
        required=False,
        allow_blank=True,
        error_messages={"invalid": "Use an ISO 3166 alpha-2 code, e.g. NO."},
    )
    category = serializers.SlugField(required=False, allow_blank=True)
    cancer_type = serializers.CharField(required=False, allow_blank=True, max_length=200)


class GroupListApi(GenericAPIView):
    """Nordic cancer collaboration groups (public)."""

    authentication_classes: list = []  # public: no session or token needed
    permission_classes = [AllowAny]
    serializer_class = GroupOutputSerializer
    queryset = NetworkGroup.objects.none()  # for the schema; the selector decides what is listed

    @extend_schema(
        parameters=[
            OpenApiParameter("search", str, description="Full-text search (prefix words)."),
            OpenApiParameter("country", str, description="ISO 3166 alpha-2, e.g. NO."),
            OpenApiParameter(
                "category", str, description="Category slug (includes its subcategories)."
            ),
            OpenApiParameter("cancer_type", str, description="Cancer type or scope contains."),
        ],
        responses=GroupOutputSerializer(many=True),
    )
    def get(self, request):
        filters = GroupFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        page = self.paginate_queryset(selectors.group_list(**filters.validated_data))
        return self.get_paginated_response(GroupOutputSerializer(page, many=True).data)


class GroupDetailApi(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(responses=GroupOutputSerializer)
    def get(self, request, slug: str):
        group = selectors.group_get(slug=slug)
        return Response(GroupOutputSerializer(group).data)


class MeApi(APIView):
    """The signed-in member: role and institutions (handy to check a token)."""

    class OutputSerializer(serializers.ModelSerializer):
        institutions = serializers.SlugRelatedField(many=True, read_only=True, slug_field="code")

        class Meta:
            model = User
            fields = ["email", "full_name", "role", "institutions"]
            ref_name = "Member"

    @extend_schema(responses=OutputSerializer)
    def get(self, request):
        return Response(self.OutputSerializer(request.user).data)


class MemberOutput(serializers.ModelSerializer):
    institutions = serializers.SlugRelatedField(many=True, read_only=True, slug_field="code")
    mfa_enabled = serializers.SerializerMethodField(
        help_text="Two-factor sign-in (TOTP) is set up."
    )
    last_login = serializers.DateTimeField(
        read_only=True, allow_null=True, help_text="Last sign-in (null: never)."
    )

    class Meta:
        model = User
        fields = [
            "id",
            "email",
            "full_name",
            "role",
            "institutions",
            "is_active",
            "mfa_enabled",
            "last_login",
            "date_joined",
        ]
        ref_name = "MemberListItem"

    def get_mfa_enabled(self, member) -> bool:
        if hasattr(member, "mfa_enabled"):  # the list's annotation
            return member.mfa_enabled
        return is_mfa_enabled(member)


class InviteInput(serializers.Serializer):
    email = serializers.EmailField()
    full_name = serializers.CharField(max_length=200, required=False, default="")
    role = serializers.ChoiceField(choices=Role.choices)
    institutions = serializers.SlugRelatedField(
        many=True, slug_field="code", queryset=Institution.objects.all()
    )
    confirm_unusual = serializers.BooleanField(
        required=False,
        default=False,
        help_text="true: the role is meant at institutions of an unusual kind for it (a "
        "400 on `confirm_unusual` says when this is needed).",
    )

    class Meta:
        ref_name = "InviteInput"


class MemberStatusInput(serializers.Serializer):
    reason = serializers.CharField(max_length=500, required=False, default="")

    class Meta:
        ref_name = "MemberStatusInput"


def _require_admin(request) -> None:
    if not request.user.is_consortium_admin:
        raise exceptions.PermissionDenied("Only consortium admins manage members.")


class MemberListApi(GenericAPIView):
    """Every member (consortium admins): filter by `search` (name or e-mail contains),
    `role`, `institution` (code) and `active`; `sort` by email, name, role or joined
    ("-" before it reverses). Pages by keyset."""

    serializer_class = MemberOutput
    queryset = User.objects.none()  # the schema's model; the selector lists the rows
    pagination_class = KeysetPagination
    filterset_class = MemberFilter

    @extend_schema(responses=MemberOutput(many=True))
    def get(self, request):
        if not request.user.is_consortium_admin:
            raise exceptions.PermissionDenied("Only consortium admins list the members.")
        page = self.paginate_queryset(self.filter_queryset(selectors.member_list()))
        return self.get_paginated_response(MemberOutput(page, many=True).data)

    @extend_schema(request=InviteInput, responses={201: MemberOutput})
    def post(self, request):
        """Invite a member: the one-time link to set a password goes to them by e-mail and
        is never in the answer. A role at a kind of institution where it opens nothing is
        refused (400 on `institutions`); an unusual one needs `confirm_unusual`."""
        _require_admin(request)
        data = InviteInput(data=request.data)
        data.is_valid(raise_exception=True)
        user, _link = services.member_invite(
            **data.validated_data,
            invited_by=request.user,
            base_url=request.build_absolute_uri("/"),
        )
        return Response(MemberOutput(user).data, status=status.HTTP_201_CREATED)


class MemberStatusApi(GenericAPIView):
    """Deactivate a member (their sessions and API tokens end, they cannot sign in) or
    reactivate one; consortium admins. Kept in the member's history with `reason`."""

    serializer_class = MemberStatusInput
    queryset = User.objects.none()
    action = ""

    @extend_schema(request=MemberStatusInput, responses=MemberOutput)
    def post(self, request, member_id: int):
        _require_admin(request)
        member = get_object_or_404(User, pk=member_id)
        data = MemberStatusInput(data=request.data)
        data.is_valid(raise_exception=True)
        change = (
            services.member_deactivate
            if self.action == "deactivate"
            else services.member_reactivate
        )
        member = change(member=member, by=request.user, reason=data.validated_data["reason"])
        return Response(MemberOutput(member).data)
