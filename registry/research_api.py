"""API of research access (/api/v1/research/): the same aggregates, dictionary, projects,
decisions, extracts and delivery log as the pages, with the same rules."""

from django.core.exceptions import PermissionDenied
from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.exceptions import ValidationError as ApiValidationError
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response

from consortium.models import Institution, Role, User
from consortium.services import outbox_enqueue

from . import research_aggregates as aggregates
from . import research_dictionary as dictionary
from . import research_extracts, research_services, tasks
from . import research_selectors as selectors
from .research_models import ExtractDownload, LegalBasis, ResearchExtract, ResearchProject

# --- Aggregates -----------------------------------------------------------------------------


class ResearchCellSerializer(serializers.Serializer):
    count = serializers.IntegerField(allow_null=True, help_text="null when suppressed.")
    suppressed = serializers.ChoiceField(
        choices=["small", "complementary"],
        allow_null=True,
        help_text='"small": 1-4 episodes ("<5"); "complementary": hidden so that a small '
        "count cannot be worked out from the totals.",
    )


class ResearchCategorySerializer(serializers.Serializer):
    code = serializers.CharField(allow_blank=True)
    label = serializers.CharField()
    is_group = serializers.BooleanField(help_text="A diagnosis group's subtotal.")


class AggregateRowSerializer(serializers.Serializer):
    code = serializers.CharField(allow_blank=True)
    label = serializers.CharField()
    is_group = serializers.BooleanField(help_text="A diagnosis group's subtotal.")
    cells = ResearchCellSerializer(many=True)
    total = ResearchCellSerializer()


class AggregateSerializer(serializers.Serializer):
    rows = serializers.CharField()
    columns = serializers.CharField(allow_null=True)
    column_categories = ResearchCategorySerializer(many=True)
    table = AggregateRowSerializer(many=True)
    column_totals = ResearchCellSerializer(many=True)
    total = ResearchCellSerializer()


DIMENSION_HELP = ", ".join(aggregates.DIMENSIONS)


class AggregateApi(GenericAPIView):
    """Counts of tumour episodes by one dimension or two crossed; small counts suppressed
    with complementary suppression, exactly as on /research/."""

    serializer_class = AggregateSerializer
    pagination_class = None

    @extend_schema(
        parameters=[
            OpenApiParameter("rows", str, description=f"One of {DIMENSION_HELP}."),
            OpenApiParameter("columns", str, description="A second dimension (optional)."),
        ]
    )
    def get(self, request):
        rows = request.query_params.get("rows", "diagnosis")
        columns = request.query_params.get("columns", "")
        errors = {}
        if rows not in aggregates.DIMENSIONS:
            errors["rows"] = [f"Not a dimension; choose one of {DIMENSION_HELP}."]
        if columns and columns not in aggregates.DIMENSIONS:
            errors["columns"] = [f"Not a dimension; choose one of {DIMENSION_HELP}."]
        if not errors and columns:
            from .research_views import aggregate_choice

            if aggregate_choice(rows, columns)[2]:
                errors["columns"] = ["Choose two different dimensions to cross."]
        if errors:
            raise ApiValidationError(errors)
        return Response(aggregates.table(rows, columns).as_json())


class ResearchMarkerResultSerializer(serializers.Serializer):
    result = serializers.CharField()
    label = serializers.CharField()
    count = serializers.IntegerField(allow_null=True)
    suppressed = serializers.CharField(allow_null=True)


class ResearchMarkerRowSerializer(serializers.Serializer):
    marker = serializers.CharField()
    label = serializers.CharField()
    results = ResearchMarkerResultSerializer(many=True)


class MarkerProfileSerializer(serializers.Serializer):
    diagnosis = serializers.CharField()
    episodes = ResearchCellSerializer()
    markers = ResearchMarkerRowSerializer(many=True)


class MarkerProfileApi(GenericAPIView):
    """The molecular-marker profile of a diagnosis or a diagnosis group: per marker, the
    episodes with each result (suppressed as the tables are)."""

    serializer_class = MarkerProfileSerializer
    pagination_class = None

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "diagnosis", str, required=True, description="A WHO CNS5 code or a group."
            )
        ]
    )
    def get(self, request):
        diagnosis = request.query_params.get("diagnosis", "")
        if not diagnosis:
            raise ApiValidationError({"diagnosis": ["Name a diagnosis or a diagnosis group."]})
        profile = aggregates.marker_profile(diagnosis)
        if profile is None:
            raise NotFound("No episode has this diagnosis.")
        total, rows = profile
        return Response(
            {
                "diagnosis": diagnosis,
                "episodes": total.as_json(),
                "markers": [
                    {
                        "marker": row.marker,
                        "label": row.label,
                        "results": [
                            {"result": code, "label": label, **cell.as_json()}
                            for (code, label), cell in zip(
                                aggregates.MARKER_RESULTS, row.cells, strict=True
                            )
                        ],
                    }
                    for row in rows
                ],
            }
        )


# --- Data dictionary -----------------------------------------------------------------------


class ResearchChoiceSerializer(serializers.Serializer):
    code = serializers.CharField()
    label = serializers.CharField()


class ResearchVariableSerializer(serializers.Serializer):
    name = serializers.CharField()
    qualified_name = serializers.CharField(help_text="The name a project approves.")
    label = serializers.CharField()
    type = serializers.CharField()
    unit = serializers.CharField(allow_blank=True)
    choices = ResearchChoiceSerializer(many=True)
    rule = serializers.CharField(allow_blank=True, help_text="The entry rules that constrain it.")
    note = serializers.CharField(allow_blank=True)
    restricted = serializers.BooleanField(help_text="Delivered only when approved by name.")
    delivered = serializers.BooleanField(help_text="False: free text, never delivered.")


class ResearchTableSerializer(serializers.Serializer):
    name = serializers.CharField()
    label = serializers.CharField()
    variables = ResearchVariableSerializer(many=True)


class DictionarySerializer(serializers.Serializer):
    version = serializers.CharField()
    tables = ResearchTableSerializer(many=True)


class DictionaryApi(GenericAPIView):
    """The register's data dictionary (also as REDCap's CSV at /research/dictionary.csv)."""

    serializer_class = DictionarySerializer
    pagination_class = None

    def get(self, request):
        return Response(dictionary.as_json())


# --- Projects -----------------------------------------------------------------------------


def _require_mfa(request) -> None:
    problem = selectors.mfa_problem(request)
    if problem:
        raise PermissionDenied(problem)


class ProjectOutput(serializers.ModelSerializer):
    applicant = serializers.EmailField(source="applicant.email")
    institution = serializers.CharField(source="institution.code")
    researchers = serializers.SerializerMethodField()
    decided_by = serializers.SerializerMethodField()

    class Meta:
        model = ResearchProject
        fields = [
            "id",
            "title",
            "purpose",
            "applicant",
            "institution",
            "researchers",
            "rek_number",
            "rek_date",
            "legal_basis",
            "end_date",
            "variables",
            "cohort_diagnoses",
            "cohort_year_from",
            "cohort_year_to",
            "cohort_regions",
            "dictionary_version",
            "status",
            "submitted_at",
            "decided_by",
            "decided_at",
            "decision_reason",
            "version",
        ]

    def get_researchers(self, project) -> list[str]:
        return [u.email for u in project.researchers.all()]

    def get_decided_by(self, project) -> str | None:
        return project.decided_by.email if project.decided_by_id else None


class ProjectInput(serializers.Serializer):
    title = serializers.CharField(max_length=300)
    purpose = serializers.CharField(max_length=5000)
    institution = serializers.CharField(help_text="Code of one of your institutions.")
    researchers = serializers.ListField(
        child=serializers.EmailField(), required=False, default=list
    )
    rek_number = serializers.CharField(max_length=40)
    rek_date = serializers.DateField()
    legal_basis = serializers.ChoiceField(choices=LegalBasis.choices)
    end_date = serializers.DateField()
    variables = serializers.ListField(
        child=serializers.CharField(max_length=60), help_text="Names from the data dictionary."
    )
    cohort_diagnoses = serializers.ListField(
        child=serializers.CharField(max_length=60), required=False, default=list
    )
    cohort_year_from = serializers.IntegerField(
        required=False, allow_null=True, min_value=1950, max_value=2100
    )
    cohort_year_to = serializers.IntegerField(
        required=False, allow_null=True, min_value=1950, max_value=2100
    )
    cohort_regions = serializers.ListField(
        child=serializers.CharField(max_length=20), required=False, default=list
    )


class ProjectListApi(GenericAPIView):
    """Research projects you applied for or take part in (admins: all); POST applies."""

    serializer_class = ProjectOutput
    queryset = ResearchProject.objects.none()  # for the schema; selectors decide

    @extend_schema(responses=ProjectOutput(many=True))
    def get(self, request):
        _require_mfa(request)
        projects = selectors.projects_visible_to(request.user).prefetch_related("researchers")
        page = self.paginate_queryset(projects.order_by("-submitted_at", "-id"))
        return self.get_paginated_response(ProjectOutput(page, many=True).data)

    @extend_schema(request=ProjectInput, responses={201: ProjectOutput})
    def post(self, request):
        _require_mfa(request)
        data = ProjectInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        institution = Institution.objects.filter(code=values.pop("institution")).first()
        if institution is None:
            raise ApiValidationError({"institution": ["No institution has this code."]})
        emails = values.pop("researchers")
        researchers = list(User.objects.filter(email__in=emails, role=Role.RESEARCHER))
        unknown = sorted(set(emails) - {u.email for u in researchers})
        if unknown:
            raise ApiValidationError({"researchers": [f"Not a researcher: {', '.join(unknown)}."]})
        project = research_services.project_apply(
            by=request.user, institution=institution, researchers=researchers, **values
        )
        return Response(ProjectOutput(project).data, status=status.HTTP_201_CREATED)


class ProjectDetailApi(GenericAPIView):
    serializer_class = ProjectOutput
    queryset = ResearchProject.objects.none()

    def get(self, request, project_id: int):
        _require_mfa(request)
        project = selectors.project_get(user=request.user, project_id=project_id)
        return Response(ProjectOutput(project).data)


class DecisionInput(serializers.Serializer):
    decision = serializers.ChoiceField(choices=["approve", "decline"])
    reason = serializers.CharField(max_length=2000)
    version = serializers.IntegerField(help_text="The project's version as loaded.")


class ProjectDecisionApi(GenericAPIView):
    """A consortium admin other than the applicant approves or declines, with a reason."""

    serializer_class = ProjectOutput
    queryset = ResearchProject.objects.none()

    @extend_schema(request=DecisionInput, responses=ProjectOutput)
    def post(self, request, project_id: int):
        _require_mfa(request)
        project = selectors.project_get(user=request.user, project_id=project_id)
        data = DecisionInput(data=request.data)
        data.is_valid(raise_exception=True)
        project = research_services.project_decide(
            project=project,
            by=request.user,
            approve=data.validated_data["decision"] == "approve",
            reason=data.validated_data["reason"],
            expected_version=data.validated_data["version"],
        )
        return Response(ProjectOutput(project).data)


# --- Extracts -------------------------------------------------------------------------------


class ExtractFileOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    table = serializers.CharField()
    format = serializers.CharField()
    rows = serializers.IntegerField()
    size = serializers.IntegerField()
    sha256 = serializers.CharField()
    download = serializers.CharField(help_text="The file's API address.")


class ExtractOutput(serializers.ModelSerializer):
    requested_by = serializers.EmailField(source="requested_by.email")
    files = serializers.SerializerMethodField()

    class Meta:
        model = ResearchExtract
        fields = [
            "id",
            "project",
            "requested_by",
            "requested_at",
            "variables",
            "cohort_diagnoses",
            "cohort_year_from",
            "cohort_year_to",
            "cohort_regions",
            "dictionary_version",
            "status",
            "progress",
            "progress_text",
            "rows",
            "finished_at",
            "expires_at",
            "error",
            "files",
        ]

    @extend_schema_field(ExtractFileOutput(many=True))
    def get_files(self, extract) -> list[dict]:
        return [
            {
                "id": f.pk,
                "name": f.name,
                "table": f.table,
                "format": f.format,
                "rows": f.rows,
                "size": f.size,
                "sha256": f.sha256,
                "download": f"/api/v1/research/extracts/{extract.pk}/files/{f.pk}/",
            }
            for f in extract.files.all()
        ]


class ExtractInput(serializers.Serializer):
    variables = serializers.ListField(
        child=serializers.CharField(max_length=60),
        required=False,
        help_text="Approved variables (default: every approved one).",
    )
    cohort_diagnoses = serializers.ListField(
        child=serializers.CharField(max_length=60), required=False
    )
    cohort_year_from = serializers.IntegerField(required=False, min_value=1950, max_value=2100)
    cohort_year_to = serializers.IntegerField(required=False, min_value=1950, max_value=2100)
    cohort_regions = serializers.ListField(
        child=serializers.CharField(max_length=20), required=False
    )


class ExtractListApi(GenericAPIView):
    """A project's extracts; POST asks for a new one (built in the background: poll it)."""

    serializer_class = ExtractOutput
    queryset = ResearchExtract.objects.none()

    @extend_schema(responses=ExtractOutput(many=True))
    def get(self, request, project_id: int):
        _require_mfa(request)
        project = selectors.project_get(user=request.user, project_id=project_id)
        page = self.paginate_queryset(
            project.extracts.select_related("requested_by").prefetch_related("files")
        )
        return self.get_paginated_response(ExtractOutput(page, many=True).data)

    @extend_schema(request=ExtractInput, responses={202: ExtractOutput})
    def post(self, request, project_id: int):
        _require_mfa(request)
        project = selectors.project_get(user=request.user, project_id=project_id)
        data = ExtractInput(data=request.data)
        data.is_valid(raise_exception=True)
        extract = research_services.extract_request(
            project=project, by=request.user, **data.validated_data
        )
        outbox_enqueue(tasks.build_research_extract, extract.pk)
        return Response(ExtractOutput(extract).data, status=status.HTTP_202_ACCEPTED)


class ExtractDetailApi(GenericAPIView):
    serializer_class = ExtractOutput
    queryset = ResearchExtract.objects.none()

    def get(self, request, extract_id: int):
        _require_mfa(request)
        extract = selectors.extract_get(user=request.user, extract_id=extract_id)
        return Response(ExtractOutput(extract).data)


class ExtractFileApi(GenericAPIView):
    """One file of a delivery (the project's researchers, until it expires)."""

    pagination_class = None

    @extend_schema(
        responses={(200, "application/octet-stream"): OpenApiTypes.BINARY},
    )
    def get(self, request, extract_id: int, file_id: int):
        _require_mfa(request)
        file = selectors.extract_file_get(user=request.user, extract_id=extract_id, file_id=file_id)
        refusal = selectors.may_download(request.user, file.extract)
        if refusal:
            raise PermissionDenied(refusal)
        path = research_extracts.file_path(file)
        if not path.exists():
            raise NotFound("The file is no longer kept.")
        ExtractDownload.objects.create(file=file, by=request.user)
        return FileResponse(
            path.open("rb"),
            as_attachment=True,
            filename=file.name,
            content_type="application/octet-stream",
        )


class DeliveryListApi(GenericAPIView):
    """The delivery log (consortium admins): every extract, who asked, what and how much."""

    serializer_class = ExtractOutput
    queryset = ResearchExtract.objects.none()

    @extend_schema(responses=ExtractOutput(many=True))
    def get(self, request):
        _require_mfa(request)
        if not request.user.is_consortium_admin:
            raise PermissionDenied("The delivery log is for consortium admins.")
        page = self.paginate_queryset(selectors.deliveries())
        return self.get_paginated_response(ExtractOutput(page, many=True).data)
