"""REST API of the register, /api/v1/registry/: the same services, rules and
permissions as the pages. Errors are 400 with field names ({"message", "extra":
{"fields"}}), a conflicting edit is 409, anything the member may not see is 404.

National IDs never go in URLs: search for one with POST /patients/search/."""

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response
from rest_framework.settings import api_settings

from consortium.formats import member_name
from consortium.models import Institution
from consortium.pagination import KEYSET_PAGE_SIZE, KeysetPagination
from consortium.services import patient_access_log

from . import rules, sections, selectors, services
from .exceptions import PatientAlreadyRegistered
from .filters import HistoryFilter, PatientFilter, WorklistFilter
from .models import (
    MarkerMethod,
    MarkerResult,
    Patient,
    PatientHistoryEntry,
    TumourEpisode,
)
from .national_id import IdentifierKind
from .serializers import WriteMeta
from .vocabulary import MARKERS


def _institution_codes():
    return serializers.SlugRelatedField(
        many=True,
        slug_field="code",
        queryset=Institution.objects.filter(kind=Institution.Kind.HOSPITAL),
    )


# --- Patients --------------------------------------------------------------------------


class PatientOutput(serializers.ModelSerializer):
    national_id = serializers.SerializerMethodField(
        help_text="Masked unless you are a clinician at one of the patient's institutions."
    )
    full_name = serializers.SerializerMethodField(
        help_text="Empty for trial coordinators, who work by register number."
    )
    institutions = serializers.SerializerMethodField(
        help_text="Codes of the treating institutions."
    )
    synthetic_id = serializers.CharField(
        help_text="Set when the national ID is a synthetic test number."
    )
    identifier_kind = serializers.ChoiceField(
        choices=IdentifierKind.choices,
        help_text="national_id (fødselsnummer), d_number, or h_number: a temporary H-number "
        "(hjelpenummer) to be replaced by the national ID (POST .../national-id/).",
    )
    identifier_system = serializers.CharField(
        help_text="HL7 Norway's identifier system of the number (FHIR Identifier.system): "
        "urn:oid:2.16.578.1.12.4.1.4.1 national ID, ...4.2 D-number, ...4.3 H-number."
    )

    class Meta:
        model = Patient
        fields = [
            "register_number",
            "national_id",
            "identifier_kind",
            "identifier_system",
            "synthetic_id",
            "full_name",
            "sex",
            "birth_date",
            "health_region",
            "vital_status",
            "date_of_death",
            "institutions",
            "version",
            "updated_at",
        ]

    def get_institutions(self, patient) -> list[str]:
        return selectors.patient_institution_codes(patient)

    def get_full_name(self, patient) -> str:
        return patient.full_name if selectors.shows_names(self.context["request"].user) else ""

    def get_national_id(self, patient) -> str:
        user = self.context["request"].user
        return (
            patient.national_id
            if selectors.shows_national_id(user, patient)
            else patient.masked_national_id
        )


class PatientCreateInput(WriteMeta, serializers.ModelSerializer):
    national_id = serializers.CharField(max_length=13)
    institutions = _institution_codes()
    sex = serializers.ChoiceField(choices=Patient.Sex.choices, required=False)
    birth_date = serializers.DateField(required=False)
    treats_patient = serializers.BooleanField(
        help_text="true: you declare that you treat the patient (required on every "
        "registration). If the national ID is already in the register, your institutions "
        "are linked to that record and its other institutions see the declaration.",
        error_messages={"required": rules.CARE_DECLARATION_REQUIRED},
    )
    care_reason = serializers.CharField(
        max_length=500,
        help_text="Why you treat the patient (kept with the declaration).",
        error_messages={
            "required": rules.CARE_DECLARATION_REQUIRED,
            "blank": rules.CARE_DECLARATION_REQUIRED,
        },
    )

    def validate_treats_patient(self, value):
        if value is not True:
            raise serializers.ValidationError(rules.CARE_DECLARATION_REQUIRED)
        return value

    class Meta:
        model = Patient
        fields = [
            "national_id",
            "full_name",
            "sex",
            "birth_date",
            "health_region",
            "vital_status",
            "date_of_death",
            "institutions",
            "reason",
            "treats_patient",
            "care_reason",
        ]


class PatientUpdateInput(WriteMeta, serializers.ModelSerializer):
    institutions = _institution_codes()

    class Meta:
        model = Patient
        fields = rules.PATIENT_FIELDS + ["institutions", "version", "reason"]


def _log(request, patients, page: str) -> None:
    patient_access_log(request, patient_ids=[p.pk for p in patients], page=page)


class PatientPagination(api_settings.DEFAULT_PAGINATION_CLASS):
    """The default page-number pagination, told the total when it is known (the
    unfiltered list's cached count) instead of counting every visible patient."""

    page_size = 25

    def __init__(self, known_count: int | None = None):
        self.known_count = known_count

    def django_paginator_class(self, queryset, page_size):
        return selectors.KnownCountPaginator(queryset, page_size, count=self.known_count)


def _paginated(view, request, queryset, serializer, page_name: str, known_count=None):
    paginator = PatientPagination(known_count)
    page = paginator.paginate_queryset(queryset, request, view=view)
    _log(request, page, page_name)
    return paginator.get_paginated_response(
        serializer(page, many=True, context={"request": request}).data
    )


def _require_clinical(user) -> None:
    if not user.sees_register:
        raise PermissionDenied("Only clinicians, coordinators and admins see patient records.")


class PatientListOutput(PatientOutput):
    diagnosis = serializers.SerializerMethodField(
        help_text="WHO CNS5 diagnosis code of the latest tumour episode ('' if none)."
    )
    diagnosis_label = serializers.SerializerMethodField(
        help_text="The same in words, with the CNS WHO grade when known."
    )

    class Meta(PatientOutput.Meta):
        fields = [*PatientOutput.Meta.fields, "diagnosis", "diagnosis_label"]
        ref_name = "PatientListItem"

    def get_diagnosis(self, patient) -> str:
        return patient.latest_diagnosis or ""

    def get_diagnosis_label(self, patient) -> str:
        return selectors.diagnosis_in_words(patient)


def _already_registered(request, duplicate: PatientAlreadyRegistered) -> Response:
    """400 naming `national_id`, with the record the clinician's institution already has
    (`extra.existing`): the duplicate is refused and the client is pointed at it."""
    existing = duplicate.patient
    _log(request, [existing], "api:registry_patient_already_registered")
    fields = duplicate.message_dict
    return Response(
        {
            "message": f"Invalid input. national_id: {' '.join(fields['national_id'])}",
            "extra": {
                "fields": fields,
                "existing": {
                    "register_number": existing.register_number,
                    "url": reverse("api:registry_patient", args=[existing.register_number]),
                    "page": existing.get_absolute_url(),
                },
            },
        },
        status=status.HTTP_400_BAD_REQUEST,
    )


class PatientListApi(GenericAPIView):
    """Patients of your institutions. `?search=` finds by name or register number;
    `institution`, `diagnosis` and `vital_status` narrow the list; `sort` orders it (name:
    by surname in Norwegian order; register_number; born; "-" before it reverses). Pages by
    keyset: follow `next` and `previous`.

    POST registers a patient, with `treats_patient` and `care_reason` (your declared care
    relationship; required). The answer is the same whether or not the national ID is
    already in the register until you declare; then a number already registered links
    your institutions to that record (201 either way) and the declaration is shown to the
    patient's other institutions."""

    serializer_class = PatientListOutput
    queryset = Patient.objects.none()  # for the schema; selectors decide what is listed
    pagination_class = KeysetPagination
    filterset_class = PatientFilter

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "search",
                str,
                description="Name or register number. "
                "National IDs are refused here: use POST /patients/search/.",
            )
        ],
        responses=PatientListOutput(many=True),
    )
    def get(self, request):
        _require_clinical(request.user)
        query = request.query_params.get("search", "")
        if selectors.looks_like_national_id(query):
            raise serializers.ValidationError(
                {
                    "search": "National IDs must not appear in URLs: "
                    "POST them to /api/v1/registry/patients/search/."
                }
            )
        refused = selectors.identity_search_refused(request.user, query)
        if refused:
            raise serializers.ValidationError({"search": refused})
        first = self._opened_page(request, query)
        if first is not None:
            page = self.paginator.use_page(request, *first)
            _log(request, page, "api:registry_patients")
            return self.get_paginated_response(
                PatientListOutput(page, many=True, context={"request": request}).data
            )
        patients = selectors.with_diagnosis(
            selectors.patient_search(user=request.user, query=query)
        )
        narrowed = bool(query.strip()) or any(
            request.query_params.get(name) for name in ("institution", "diagnosis", "vital_status")
        )
        self.list_count = lambda rows: selectors.patient_list_count(
            request.user, rows, narrowed=narrowed
        )
        page = self.paginate_queryset(self.filter_queryset(patients))
        _log(request, page, "api:registry_patients")
        return self.get_paginated_response(
            PatientListOutput(page, many=True, context={"request": request}).data
        )

    def _opened_page(self, request, query: str):
        """The list as it is opened (no search, filter or cursor, the default page size):
        (page, count) by the page's own prepared query (selectors.opened_list_page)."""
        params = request.query_params
        KeysetPagination.refuse_page_numbers(request, self)
        if query.strip() or params.get("after") or params.get("before"):
            return None
        if params.get("page_size", "") not in ("", str(KEYSET_PAGE_SIZE)):
            return None
        filters = PatientFilter(params, queryset=Patient.objects.none(), request=request)
        return selectors.opened_list_page(request.user, filters, KEYSET_PAGE_SIZE)

    @extend_schema(request=PatientCreateInput, responses={201: PatientOutput})
    def post(self, request):
        data = PatientCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.values()
        values.pop("treats_patient")
        if not request.user.registers_patients:
            raise PermissionDenied("Only clinicians register patients.")
        try:
            patient = services.patient_register(
                by=request.user,
                national_id_value=values.pop("national_id"),
                institutions=list(values.pop("institutions")),
                reason=data.validated_data.get("reason", ""),
                care_reason=values.pop("care_reason"),
                allow_synthetic=settings.ALLOW_SYNTHETIC_NATIONAL_IDS,
                **values,
            )
        except PatientAlreadyRegistered as duplicate:
            return _already_registered(request, duplicate)
        _log(
            request,
            [patient],
            "api:registry_care_declaration" if patient.declared_care else "api:registry_patients",
        )
        return Response(
            PatientOutput(patient, context={"request": request}).data,
            status=status.HTTP_201_CREATED,
        )


class HNumberReplaceApi(GenericAPIView):
    """Replace the patient's temporary H-number with the person's national ID or D-number
    (clinicians of the patient's institutions). `care_reason` (your declared care
    relationship) is required every time. If the number is already in the register, nothing
    is replaced: your institution is linked to that record on your declaration and the 400
    answer names it in `extra.existing_patient`; otherwise the answer is the patient, with
    the old H-number kept in its history."""

    class InputSerializer(serializers.Serializer):
        national_id = serializers.CharField(max_length=13)
        care_reason = serializers.CharField(
            max_length=500,
            error_messages={
                "required": rules.CARE_DECLARATION_REQUIRED,
                "blank": rules.CARE_DECLARATION_REQUIRED,
            },
        )
        reason = serializers.CharField(max_length=500, required=False, default="")
        version = serializers.IntegerField(help_text="The version you read (stale: 409).")

        class Meta:
            ref_name = "HNumberReplaceInput"

    serializer_class = InputSerializer
    queryset = Patient.objects.none()

    @extend_schema(request=InputSerializer, responses=PatientOutput)
    def post(self, request, register_number: str):
        patient = selectors.patient_get(user=request.user, register_number=register_number)
        _log(request, [patient], "api:registry_patient_national_id")
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        result = services.patient_replace_h_number(
            patient=patient,
            by=request.user,
            national_id_value=values["national_id"],
            care_reason=values["care_reason"],
            reason=values["reason"],
            expected_version=values["version"],
            allow_synthetic=settings.ALLOW_SYNTHETIC_NATIONAL_IDS,
        )
        if result.duplicate is not None:
            _log(request, [result.duplicate], "api:registry_care_declaration")
            message = services.duplicate_message(result.duplicate, linked=result.linked)
            return Response(
                {
                    "message": f"Invalid input. national_id: {message}",
                    "extra": {
                        "fields": {"national_id": [message]},
                        "existing_patient": result.duplicate.register_number,
                    },
                },
                status=status.HTTP_400_BAD_REQUEST,
            )
        return Response(PatientOutput(result.patient, context={"request": request}).data)


class PatientSearchApi(GenericAPIView):
    """Find patients by national ID, register number or name, in the request body."""

    class InputSerializer(serializers.Serializer):
        query = serializers.CharField(max_length=100)

        class Meta:
            ref_name = "PatientSearchInput"

    serializer_class = InputSerializer
    queryset = Patient.objects.none()

    @extend_schema(request=InputSerializer, responses=PatientOutput(many=True))
    def post(self, request):
        _require_clinical(request.user)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        refused = selectors.identity_search_refused(request.user, data.validated_data["query"])
        if refused:
            raise serializers.ValidationError({"query": refused})
        patients = selectors.patient_search(user=request.user, query=data.validated_data["query"])
        return _paginated(self, request, patients, PatientOutput, "api:registry_patient_search")


class PatientDetailApi(GenericAPIView):
    serializer_class = PatientOutput

    def _patient(self, request, register_number):
        patient = selectors.patient_get(user=request.user, register_number=register_number)
        _log(request, [patient], "api:registry_patient")
        return patient

    def get(self, request, register_number: str):
        return Response(
            PatientOutput(
                self._patient(request, register_number), context={"request": request}
            ).data
        )

    @extend_schema(request=PatientUpdateInput, responses=PatientOutput)
    def patch(self, request, register_number: str):
        patient = self._patient(request, register_number)
        data = PatientUpdateInput(data=request.data, partial=True, changes_stored_row=True)
        data.is_valid(raise_exception=True)
        values = data.values()
        institutions = values.pop("institutions", None)
        meta = data.meta()
        patient = services.patient_update(
            patient=patient,
            by=request.user,
            expected_version=meta["expected_version"],
            reason=meta["reason"],
            institutions=institutions,
            **values,
        )
        return Response(PatientOutput(patient, context={"request": request}).data)


class HistoryChangeOutput(serializers.Serializer):
    field = serializers.CharField(help_text="The field's name, as in the record's own resource.")
    label = serializers.CharField(help_text="The field's name in words, as the page shows it.")
    old = serializers.JSONField(allow_null=True, help_text="The stored value before (null: added).")
    new = serializers.JSONField(allow_null=True, help_text="The stored value after.")
    old_text = serializers.CharField(allow_null=True, help_text="`old` as the page shows it.")
    new_text = serializers.CharField(help_text="`new` as the page shows it.")


class HistoryEventOutput(serializers.Serializer):
    id = serializers.CharField(help_text="The change's id (its event model and number).")
    at = serializers.DateTimeField()
    who_id = serializers.IntegerField(source="who.pk", allow_null=True, default=None)
    who = serializers.SerializerMethodField(help_text="The member's name; null: the system.")
    record = serializers.CharField(help_text='The changed record\'s kind, e.g. "registry.Surgery".')
    action = serializers.ChoiceField(choices=["insert", "update", "delete"])
    what = serializers.CharField()
    reason = serializers.CharField()
    changes = HistoryChangeOutput(many=True, source="fields")

    def get_who(self, entry) -> str | None:
        return member_name(entry["who"]) or None


class PatientHistoryApi(GenericAPIView):
    """Every change to the patient's record (the History page's entries): stored values as
    stored (plain numbers, keys, ids, ISO times) beside the page's words. Newest first
    (`sort`: at, who, what; "-" for the other way), filtered by section (`record`'s value),
    change (insert, update, delete), member (id), since/until (local dates, both included)
    and reason; paged by keyset."""

    serializer_class = HistoryEventOutput
    queryset = PatientHistoryEntry.objects.none()  # the schema's model; rows per patient
    pagination_class = KeysetPagination
    filterset_class = HistoryFilter

    @extend_schema(responses=HistoryEventOutput(many=True))
    def get(self, request, register_number: str):
        patient = selectors.patient_get(user=request.user, register_number=register_number)
        _log(request, [patient], "api:registry_patient_history")
        page = self.paginate_queryset(self.filter_queryset(selectors.history_entries(patient)))
        entries = selectors.patient_history(
            patient, hide_identity=not selectors.shows_names(request.user), entries=page
        )
        return self.get_paginated_response(HistoryEventOutput(entries, many=True).data)


# --- Episodes and markers -----------------------------------------------------------------


class MarkerSerializer(serializers.Serializer):
    marker = serializers.ChoiceField(choices=list(MARKERS.items()))
    result = serializers.ChoiceField(choices=MarkerResult.choices)
    method = serializers.ChoiceField(choices=MarkerMethod.choices, required=False, allow_blank=True)


class EpisodeOutput(serializers.ModelSerializer):
    patient = serializers.CharField(source="patient.register_number")
    institution = serializers.CharField(source="institution.code")
    markers = MarkerSerializer(many=True)
    missing = serializers.SerializerMethodField(help_text="What a complete report still lacks.")

    class Meta:
        model = TumourEpisode
        fields = [
            "id",
            "patient",
            "institution",
            "referral_date",
            "diagnosis_date",
            "basis",
            "diagnosis",
            "who_grade",
            "morphology",
            "topography",
            "laterality",
            "mdt_dates",
            "trial_offered",
            "trial_accepted",
            "acknowledged_warnings",
            "status",
            "completed_at",
            "version",
            "markers_version",
            "markers",
            "missing",
        ]

    def get_missing(self, episode) -> list[str]:
        return rules.missing_items(episode)


class EpisodeInput(WriteMeta, serializers.ModelSerializer):
    class Meta:
        model = TumourEpisode
        fields = rules.EPISODE_FIELDS + ["version", "reason", "acknowledge_warnings"]


class EpisodeListApi(GenericAPIView):
    serializer_class = EpisodeOutput
    queryset = TumourEpisode.objects.none()

    @extend_schema(responses=EpisodeOutput(many=True))
    def get(self, request, register_number: str):
        patient = selectors.patient_get(user=request.user, register_number=register_number)
        _log(request, [patient], "api:registry_episodes")
        page = self.paginate_queryset(selectors.patient_episodes(patient))
        return self.get_paginated_response(EpisodeOutput(page, many=True).data)

    @extend_schema(request=EpisodeInput, responses={201: EpisodeOutput})
    def post(self, request, register_number: str):
        patient = selectors.patient_get(user=request.user, register_number=register_number)
        _log(request, [patient], "api:registry_episodes")
        data = EpisodeInput(data=request.data)
        data.is_valid(raise_exception=True)
        meta = data.meta()
        episode = services.episode_save(
            patient=patient,
            by=request.user,
            reason=meta["reason"],
            acknowledge=meta["acknowledge"],
            **data.values(),
        )
        return Response(
            EpisodeOutput(selectors.episode_for_page(episode.pk)).data,
            status=status.HTTP_201_CREATED,
        )


def _episode(request, episode_id: int, page: str) -> TumourEpisode:
    episode = selectors.episode_for_user(user=request.user, episode_id=episode_id)
    _log(request, [episode.patient], page)
    return episode


class EpisodeDetailApi(GenericAPIView):
    serializer_class = EpisodeOutput

    def get(self, request, episode_id: int):
        return Response(EpisodeOutput(_episode(request, episode_id, "api:registry_episode")).data)

    @extend_schema(request=EpisodeInput, responses=EpisodeOutput)
    def patch(self, request, episode_id: int):
        episode = _episode(request, episode_id, "api:registry_episode")
        data = EpisodeInput(data=request.data, partial=True, changes_stored_row=True)
        data.is_valid(raise_exception=True)
        meta = data.meta()
        services.episode_save(
            patient=episode.patient, by=request.user, episode=episode, **meta, **data.values()
        )
        return Response(EpisodeOutput(selectors.episode_for_page(episode.pk)).data)


class MarkersApi(GenericAPIView):
    """The episode's molecular markers. PUT replaces them all: a marker left out is
    no longer recorded."""

    class InputSerializer(WriteMeta):
        markers = MarkerSerializer(many=True)

        class Meta:
            ref_name = "MarkersInput"

    serializer_class = MarkerSerializer
    queryset = TumourEpisode.objects.none()

    @extend_schema(responses=MarkerSerializer(many=True))
    def get(self, request, episode_id: int):
        episode = _episode(request, episode_id, "api:registry_markers")
        page = self.paginate_queryset(episode.markers.order_by("marker", "id"))
        return self.get_paginated_response(MarkerSerializer(page, many=True).data)

    @extend_schema(request=InputSerializer, responses=EpisodeOutput)
    def put(self, request, episode_id: int):
        episode = _episode(request, episode_id, "api:registry_markers")
        data = self.InputSerializer(data=request.data, changes_stored_row=True)
        data.is_valid(raise_exception=True)
        given = {
            m["marker"]: (m["result"], m.get("method", "")) for m in data.validated_data["markers"]
        }
        if len(given) != len(data.validated_data["markers"]):
            raise serializers.ValidationError({"markers": "Each marker at most once."})
        results = {marker: given.get(marker, ("", "")) for marker in MARKERS}
        services.markers_save(episode=episode, by=request.user, results=results, **data.meta())
        return Response(EpisodeOutput(selectors.episode_for_page(episode.pk)).data)


class SubmitWantedOutput(serializers.Serializer):
    item = serializers.CharField(help_text='What to record, e.g. "Record when radiotherapy ended."')
    asked_by = serializers.ListField(
        child=serializers.CharField(), help_text="Who asks for it (trial id and title)."
    )
    app = serializers.CharField()


class SubmitPreviewOutput(serializers.Serializer):
    episode = serializers.IntegerField(source="episode.pk")
    status = serializers.CharField(source="episode.status")
    ready = serializers.BooleanField(help_text="Nothing blocks: POST with confirm to lock.")
    blocking = serializers.ListField(
        child=serializers.CharField(),
        help_text="Missing items and unacknowledged warnings: the report cannot be submitted.",
    )
    wanted = SubmitWantedOutput(
        many=True,
        help_text="What candidate trials find unknown in the register: advice, never a block.",
    )


class SubmitApi(GenericAPIView):
    """Submit the report as complete (clinicians), in two steps like the page: GET previews
    what it still lacks (`blocking`) and what candidate trials would still like recorded
    (`wanted`); POST with `{"confirm": true}` locks it (400 naming `confirm` without it,
    400 listing what is missing while anything blocks)."""

    class InputSerializer(serializers.Serializer):
        confirm = serializers.BooleanField(
            help_text="true: you have seen the preview and lock the report."
        )

        class Meta:
            ref_name = "SubmitInput"

        def validate_confirm(self, value):
            if not value:
                raise serializers.ValidationError(
                    "Send true to submit the report as complete (GET this URL for what it lacks)."
                )
            return value

    serializer_class = InputSerializer

    @extend_schema(responses=SubmitPreviewOutput)
    def get(self, request, episode_id: int):
        episode = _episode(request, episode_id, "api:registry_submit")
        if not selectors.can_edit_patient(request.user, episode.patient):
            raise PermissionDenied("Only clinicians of the patient's institutions submit reports.")
        preview = selectors.submit_preview(user=request.user, episode=episode)
        return Response(SubmitPreviewOutput(preview).data)

    @extend_schema(request=InputSerializer, responses=EpisodeOutput)
    def post(self, request, episode_id: int):
        episode = _episode(request, episode_id, "api:registry_submit")
        if not selectors.can_edit_patient(request.user, episode.patient):
            raise PermissionDenied("Only clinicians of the patient's institutions submit reports.")
        self.InputSerializer(data=request.data).is_valid(raise_exception=True)
        services.episode_submit(episode=episode, by=request.user)
        return Response(EpisodeOutput(selectors.episode_for_page(episode.pk)).data)


class ReopenApi(GenericAPIView):
    """Reopen a complete report, with a reason (coordinators and admins)."""

    class InputSerializer(serializers.Serializer):
        reason = serializers.CharField(max_length=1000)

        class Meta:
            ref_name = "ReopenInput"

    serializer_class = InputSerializer

    @extend_schema(request=InputSerializer, responses=EpisodeOutput)
    def post(self, request, episode_id: int):
        episode = _episode(request, episode_id, "api:registry_reopen")
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.episode_reopen(
            episode=episode, by=request.user, reason=data.validated_data["reason"]
        )
        return Response(EpisodeOutput(selectors.episode_for_page(episode.pk)).data)


# --- Treatment and follow-up sections -------------------------------------------------------


class SectionListApi(GenericAPIView):
    section: sections.Section
    input_class = None

    def get(self, request, episode_id: int):
        episode = _episode(request, episode_id, f"api:registry_{self.section.key}")
        rows = self.section.model.objects.filter(episode=episode)
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(self.serializer_class(page, many=True).data)

    def post(self, request, episode_id: int):
        episode = _episode(request, episode_id, f"api:registry_{self.section.key}")
        data = self.input_class(data=request.data)
        data.is_valid(raise_exception=True)
        meta = data.meta()
        row = services.section_save(
            section=self.section.key,
            episode=episode,
            by=request.user,
            reason=meta["reason"],
            acknowledge=meta["acknowledge"],
            **data.values(),
        )
        return Response(self.serializer_class(row).data, status=status.HTTP_201_CREATED)


class SectionDetailApi(GenericAPIView):
    section: sections.Section
    input_class = None

    def _row(self, request, episode_id, pk):
        episode = _episode(request, episode_id, f"api:registry_{self.section.key}")
        return episode, get_object_or_404(self.section.model, pk=pk, episode=episode)

    def get(self, request, episode_id: int, pk: int):
        return Response(self.serializer_class(self._row(request, episode_id, pk)[1]).data)

    def patch(self, request, episode_id: int, pk: int):
        episode, row = self._row(request, episode_id, pk)
        data = self.input_class(
            data=request.data, partial=True, context={"row": row}, changes_stored_row=True
        )
        data.is_valid(raise_exception=True)
        row = services.section_save(
            section=self.section.key,
            episode=episode,
            by=request.user,
            row=row,
            **data.meta(),
            **data.values(),
        )
        return Response(self.serializer_class(row).data)

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "reason",
                str,
                required=True,
                description="Why the entry is removed (kept in the history).",
            )
        ]
    )
    def delete(self, request, episode_id: int, pk: int):
        episode, row = self._row(request, episode_id, pk)
        services.section_delete(
            section=self.section.key,
            episode=episode,
            row=row,
            by=request.user,
            reason=request.query_params.get("reason", ""),
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


def section_views(section: sections.Section) -> tuple:
    """List and detail views for one section, each with its own serializers (so the
    OpenAPI schema describes every section's fields)."""
    output, input_ = section.output, section.input
    name = section.model.__name__
    attrs = {
        "section": section,
        "serializer_class": output,
        "input_class": input_,
        "queryset": section.model.objects.none(),
    }
    # extend_schema_view, not extend_schema on list_view.get: the methods are the shared
    # base class's, and annotating them in place left every section with the last one's.
    list_view = extend_schema_view(
        get=extend_schema(responses=output(many=True)),
        post=extend_schema(request=input_, responses={201: output}),
    )(type(f"{name}ListApi", (SectionListApi,), attrs))
    detail_view = extend_schema_view(
        get=extend_schema(responses=output),
        patch=extend_schema(request=input_, responses=output),
    )(type(f"{name}DetailApi", (SectionDetailApi,), attrs))
    return list_view, detail_view


class HNumberItemOutput(serializers.Serializer):
    patient = serializers.CharField(source="register_number")
    registered_at = serializers.DateTimeField(source="created_at")


class WorklistItemOutput(serializers.Serializer):
    episode = serializers.IntegerField(source="pk")
    patient = serializers.CharField(source="patient.register_number")
    diagnosis = serializers.CharField()
    diagnosis_date = serializers.DateField(allow_null=True)
    missing = serializers.SerializerMethodField(help_text="What a complete report still lacks.")

    def get_missing(self, episode) -> list[str]:
        return rules.missing_items(episode)


class WorklistFiguresOutput(serializers.Serializer):
    total = serializers.IntegerField()
    complete = serializers.IntegerField()
    year = serializers.IntegerField()
    year_total = serializers.IntegerField()
    year_complete = serializers.IntegerField()
    share = serializers.FloatField(allow_null=True, help_text="Per cent complete, overall.")
    year_share = serializers.FloatField(allow_null=True, help_text="Per cent complete, this year.")


class WorklistApi(GenericAPIView):
    """Completeness figures and the incomplete reports of one of your institutions: the
    list envelope of every endpoint ({count, next, previous, results}, one page of
    incomplete reports) with the institution and its figures beside it."""

    class OutputSerializer(serializers.Serializer):
        count = serializers.IntegerField()
        next = serializers.URLField(allow_null=True)
        previous = serializers.URLField(allow_null=True)
        results = WorklistItemOutput(many=True)
        institution = serializers.CharField()
        figures = WorklistFiguresOutput()
        h_numbers = HNumberItemOutput(
            many=True,
            help_text="Patients registered with a temporary H-number (oldest first, at most "
            "200): replace each with the national ID, POST /patients/{register_number}/"
            "national-id/.",
        )

        class Meta:
            ref_name = "Worklist"

    serializer_class = OutputSerializer
    queryset = TumourEpisode.objects.none()
    filterset_class = WorklistFilter

    @extend_schema(
        parameters=[
            OpenApiParameter("institution", str, description="Institution code, e.g. OUS."),
            OpenApiParameter("page", int, description="A page number within the results."),
        ],
        responses=OutputSerializer,
    )
    def get(self, request):
        institutions = list(selectors.worklist_institutions(request.user))
        if not institutions:
            raise PermissionDenied("The worklist is for clinicians, coordinators and admins.")
        code = request.query_params.get("institution")
        chosen = (
            next((i for i in institutions if i.code == code), None) if code else institutions[0]
        )
        if chosen is None:
            raise serializers.ValidationError(
                {"institution": f"Not one of your institutions: {code}."}
            )
        page = self.paginate_queryset(self.filter_queryset(selectors.incomplete_episodes(chosen)))
        _log(request, [e.patient for e in page], "api:registry_worklist")
        response = self.get_paginated_response(WorklistItemOutput(page, many=True).data)
        h_numbers = selectors.h_numbers_to_replace(chosen)
        _log(request, h_numbers, "api:registry_worklist")
        response.data.update(
            institution=chosen.code,
            figures=selectors.completeness(chosen),
            h_numbers=HNumberItemOutput(h_numbers, many=True).data,
        )
        return response
