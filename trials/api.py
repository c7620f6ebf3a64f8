"""REST API of the trials app, /api/v1/trials/: the catalogue (any signed-in member),
criteria (coordinators and admins), matches and their review steps (the coordinator's
institutions' patients; admins all), and the treating clinician's answer. Same
services and rules as the pages: 400 names the field, 409 a conflicting edit, 404
anything the member may not see. Matches carry the register number and hospital,
never the name or national ID, and every response showing one writes the access log."""

from django.core.exceptions import PermissionDenied
from drf_spectacular.utils import extend_schema, extend_schema_field, inline_serializer
from rest_framework import serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from consortium.pagination import KeysetPagination
from consortium.services import patient_access_log

from . import criteria, selectors, services
from .models import (
    PHASES,
    STEP_TRANSITIONS,
    CloseReason,
    Eligibility,
    ManualCheck,
    Match,
    Outcome,
    ReviewEvent,
    Step,
    Suggestion,
    Trial,
    TrialArm,
    TrialSite,
    TrialStatus,
)


class SiteOutput(serializers.ModelSerializer):
    class Meta:
        model = TrialSite
        fields = ["facility", "city", "country", "status", "is_norwegian"]


class ArmOutput(serializers.ModelSerializer):
    plain_criteria = serializers.SerializerMethodField()

    class Meta:
        model = TrialArm
        fields = [
            "id",
            "label",
            "arm_type",
            "description",
            "intervention_names",
            "criteria",
            "plain_criteria",
        ]

    def get_plain_criteria(self, arm) -> str:
        return criteria.describe(arm.criteria) if arm.criteria else ""


class TrialOutput(serializers.ModelSerializer):
    sites = SiteOutput(many=True)
    arms = ArmOutput(many=True)
    plain_criteria = serializers.SerializerMethodField()
    url = serializers.CharField(source="get_absolute_url")

    class Meta:
        model = Trial
        fields = [
            "id",
            "nct_id",
            "source",
            "brief_title",
            "official_title",
            "acronym",
            "overall_status",
            "phases",
            "conditions",
            "eligibility_text",
            "minimum_age",
            "maximum_age",
            "sex",
            "sponsor",
            "interventions",
            "last_update",
            "has_norwegian_site",
            "import_warnings",
            "criteria",
            "criteria_encoded_at",
            "plain_criteria",
            "coordinator_notes",
            "sites",
            "arms",
            "version",
            "updated_at",
            "url",
        ]

    def get_plain_criteria(self, trial) -> str:
        return criteria.describe(trial.criteria)


class TrialListApi(GenericAPIView):
    """The trial catalogue; trials with a Norwegian site first."""

    serializer_class = TrialOutput
    queryset = Trial.objects.none()

    class FilterSerializer(serializers.Serializer):
        status = serializers.ChoiceField(choices=TrialStatus.choices, required=False)
        phase = serializers.ChoiceField(choices=PHASES, required=False)
        country = serializers.CharField(
            required=False,
            allow_blank=True,
            max_length=100,
            help_text="NO for Norwegian sites, else a country name.",
        )
        diagnosis = serializers.CharField(required=False, allow_blank=True, max_length=60)
        search = serializers.CharField(required=False, allow_blank=True, max_length=200)

    class TrialCreateInput(serializers.Serializer):
        nct_id = serializers.RegexField(
            r"^(NCT\d{8})?$", required=False, allow_blank=True, default=""
        )
        brief_title = serializers.CharField(max_length=500)
        official_title = serializers.CharField(required=False, allow_blank=True, default="")
        acronym = serializers.CharField(
            required=False, allow_blank=True, default="", max_length=100
        )
        overall_status = serializers.ChoiceField(choices=TrialStatus.choices)
        phases = serializers.ListField(
            child=serializers.ChoiceField(choices=PHASES), required=False, default=list
        )
        conditions = serializers.ListField(
            child=serializers.CharField(max_length=300), required=False, default=list
        )
        eligibility_text = serializers.CharField(required=False, allow_blank=True, default="")
        minimum_age = serializers.CharField(
            required=False, allow_blank=True, default="", max_length=30
        )
        maximum_age = serializers.CharField(
            required=False, allow_blank=True, default="", max_length=30
        )
        sex = serializers.RegexField(
            r"^(|ALL|FEMALE|MALE)$",
            required=False,
            allow_blank=True,
            default="",
            help_text="ALL, FEMALE or MALE (as ClinicalTrials.gov).",
        )
        sponsor = serializers.CharField(
            required=False, allow_blank=True, default="", max_length=300
        )
        coordinator_notes = serializers.CharField(required=False, allow_blank=True, default="")

    @extend_schema(parameters=[FilterSerializer], responses=TrialOutput(many=True))
    def get(self, request):
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        trials = selectors.trial_list(**filters.validated_data).prefetch_related("sites", "arms")
        page = self.paginate_queryset(trials)
        return self.get_paginated_response(TrialOutput(page, many=True).data)

    @extend_schema(request=TrialCreateInput, responses={201: TrialOutput})
    def post(self, request):
        if not selectors.works_trials(request.user):
            raise PermissionDenied("Only trial coordinators and admins add trials.")
        data = self.TrialCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        trial = services.trial_create(by=request.user, **data.validated_data)
        return Response(
            TrialOutput(selectors.trial_get(pk=trial.pk)).data, status=status.HTTP_201_CREATED
        )


class TrialDetailApi(APIView):
    class TrialUpdateInput(serializers.Serializer):
        version = serializers.IntegerField(
            help_text="The version you loaded; a newer one answers 409."
        )
        overall_status = serializers.ChoiceField(choices=TrialStatus.choices, required=False)
        coordinator_notes = serializers.CharField(required=False, allow_blank=True)

    @extend_schema(responses=TrialOutput)
    def get(self, request, pk: int):
        return Response(TrialOutput(selectors.trial_get(pk=pk)).data)

    @extend_schema(request=TrialUpdateInput, responses=TrialOutput)
    def patch(self, request, pk: int):
        trial = selectors.trial_get(pk=pk)
        if not selectors.works_trials(request.user):
            raise PermissionDenied("Only trial coordinators and admins change trials.")
        data = self.TrialUpdateInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        services.trial_update(
            trial=trial, by=request.user, expected_version=values.pop("version"), **values
        )
        return Response(TrialOutput(selectors.trial_get(pk=pk)).data)


class CriteriaApi(APIView):
    """The structured eligibility (schema version 1; see trials/criteria.py)."""

    class CriteriaInput(serializers.Serializer):
        version = serializers.IntegerField(help_text="The trial's version you loaded.")
        criteria = serializers.JSONField(
            help_text='{"version": 1, "criteria": {"all": [...]}, "check_by_hand": [...]}'
        )
        arms = serializers.DictField(
            child=serializers.JSONField(allow_null=True),
            required=False,
            help_text="Arm id -> criteria tree (or null to remove).",
        )

    @extend_schema(responses=TrialOutput)
    def get(self, request, pk: int):
        return Response(TrialOutput(selectors.trial_get(pk=pk)).data)

    @extend_schema(request=CriteriaInput, responses=TrialOutput)
    def put(self, request, pk: int):
        trial = selectors.trial_get(pk=pk)
        if not selectors.works_trials(request.user):
            raise PermissionDenied("Only trial coordinators and admins encode criteria.")
        data = self.CriteriaInput(data=request.data)
        data.is_valid(raise_exception=True)
        arms = {}
        for key, tree in data.validated_data.get("arms", {}).items():
            if not str(key).isdigit():
                raise serializers.ValidationError({"arms": f"{key!r} is not an arm id."})
            arms[int(key)] = tree
        services.trial_criteria_save(
            trial=trial,
            by=request.user,
            tree=data.validated_data["criteria"],
            arm_trees=arms,
            expected_version=data.validated_data["version"],
        )
        return Response(TrialOutput(selectors.trial_get(pk=pk)).data)


class FunnelOutput(serializers.Serializer):
    trial = serializers.IntegerField()
    matched = serializers.IntegerField(help_text="Current matches (as the queue lists them).")
    reviewed = serializers.IntegerField()
    contacted = serializers.IntegerField()
    screened = serializers.IntegerField()
    enrolled = serializers.IntegerField()
    no_longer_matching = serializers.IntegerField(
        help_text="Matches a criteria change, the trial closing or a death took away (kept "
        "with their history; the queue's matching=no_longer_matching lists them)."
    )
    not_enrolled = serializers.DictField(
        child=serializers.IntegerField(), help_text="Close reason -> current matches closed so."
    )


class FunnelApi(APIView):
    """The trial's funnel, counted from the same matches as the queue and the CSV."""

    @extend_schema(responses=FunnelOutput)
    def get(self, request, pk: int):
        trial = selectors.trial_get(pk=pk)
        if not selectors.works_trials(request.user):
            raise PermissionDenied("Only trial coordinators and admins see the funnel.")
        figures = selectors.funnel(user=request.user, trial=trial)
        return Response(
            FunnelOutput(
                {
                    "trial": trial.pk,
                    **dict(figures["stages"]),
                    "no_longer_matching": figures["no_longer_matching"],
                    "not_enrolled": figures["reasons"],
                }
            ).data
        )


# --- Matches -----------------------------------------------------------------------------


class VerdictOutput(serializers.Serializer):
    criterion = serializers.CharField()
    verdict = serializers.ChoiceField(choices=["met", "not_met", "unknown"])
    value = serializers.CharField()
    reason = serializers.CharField()


VERDICT_FIELDS = ("criterion", "verdict", "value", "reason")


class ReviewEventOutput(serializers.ModelSerializer):
    by = serializers.StringRelatedField()

    class Meta:
        model = ReviewEvent
        fields = ["kind", "step", "close_reason", "answer", "note", "by", "at"]


class ManualCheckOutput(serializers.Serializer):
    text = serializers.CharField()
    status = serializers.ChoiceField(choices=ManualCheck.Status.choices)
    by = serializers.CharField(allow_null=True)
    at = serializers.DateTimeField(allow_null=True)
    note = serializers.CharField()


_AT = serializers.DateTimeField()


class MatchOutput(serializers.ModelSerializer):
    register_number = serializers.CharField(source="patient.register_number")
    outcome = serializers.ChoiceField(
        source="eligibility",
        choices=Eligibility.choices,
        help_text="eligible only when every encoded criterion is met and every item to check "
        "by hand was marked met; eligible_pending_checks while some are unchecked.",
    )
    encoded_outcome = serializers.ChoiceField(
        source="outcome",
        choices=Outcome.choices,
        help_text="The engine's verdict on the encoded criteria alone.",
    )
    manual_checks = serializers.SerializerMethodField()
    allowed_steps = serializers.SerializerMethodField()
    acronym = serializers.CharField(source="trial.acronym")
    reachable = serializers.BooleanField(
        help_text="The trial has a Nordic site, or a cross-border referral is recorded."
    )
    hospitals = serializers.ListField(child=serializers.CharField())
    trial = serializers.IntegerField(source="trial_id")
    # An id, not the related field ModelSerializer would make: that deep-copies its
    # queryset for every serializer, a third of a page's time.
    episode = serializers.IntegerField(source="episode_id")
    nct_id = serializers.CharField(source="trial.nct_id")
    arm = serializers.CharField(source="arm.label", default=None)
    # Method fields, not a source naming get_diagnosis_display or a nested serializer per
    # match: DRF inspects a callable source's signature and builds a serializer for each
    # row, which took most of a 50-match page's time (benchmark_matching).
    diagnosis = serializers.SerializerMethodField()
    verdicts = VerdictOutput(many=True)

    class Meta:
        model = Match
        fields = [
            "id",
            "register_number",
            "hospitals",
            "trial",
            "nct_id",
            "arm",
            "episode",
            "diagnosis",
            "outcome",
            "encoded_outcome",
            "verdicts",
            "manual_checks",
            "acronym",
            "reachable",
            "active",
            "inactive_reason",
            "needs_another_look",
            "step",
            "allowed_steps",
            "close_reason",
            "version",
            "matched_at",
            "outcome_changed_at",
        ]

    def get_diagnosis(self, match) -> str:
        return match.episode.get_diagnosis_display()

    @extend_schema_field(ManualCheckOutput(many=True))
    def get_manual_checks(self, match) -> list:
        # ManualCheckOutput's shape, built directly (its fields are strings but `at`).
        return [
            {**check, "at": _AT.to_representation(check["at"]) if check["at"] else None}
            for check in selectors.manual_checks(match)
        ]

    def get_allowed_steps(self, match) -> list[str]:
        return list(STEP_TRANSITIONS[match.step])


def _text(value):
    return None if value is None else str(value)  # a CharField's output (None stays None)


def _at(value):
    return _AT.to_representation(value) if value else None


def match_as_output(row: dict) -> dict:
    """MatchOutput's representation of a selectors.queue_rows(detail=True) row, built
    directly (tests/trials/test_pages_api.py checks it equals MatchOutput's, field by
    field, for matches of every kind)."""
    return {
        "id": row["id"],
        "register_number": row["register_number"],
        "hospitals": row["hospitals"],
        "trial": row["trial_id"],
        "nct_id": row["nct_id"],
        "arm": row["arm_label"],
        "episode": row["episode_id"],
        "diagnosis": row["diagnosis"],
        "outcome": row["eligibility"],
        "encoded_outcome": row["outcome"],
        "verdicts": [
            {name: _text(verdict.get(name)) for name in VERDICT_FIELDS}
            for verdict in row["verdicts"]
        ],
        "manual_checks": [{**check, "at": _at(check["at"])} for check in row["manual_checks"]],
        "acronym": row["acronym"],
        "reachable": row["reachable"],
        "active": row["active"],
        "inactive_reason": row["inactive_reason"],
        "needs_another_look": row["needs_another_look"],
        "step": row["step"],
        "allowed_steps": list(STEP_TRANSITIONS[row["step"]]),
        "close_reason": row["close_reason"],
        "version": row["version"],
        "matched_at": _at(row["matched_at"]),
        "outcome_changed_at": _at(row["outcome_changed_at"]),
    }


class MatchDetailOutput(MatchOutput):
    steps = serializers.SerializerMethodField()

    class Meta(MatchOutput.Meta):
        fields = [*MatchOutput.Meta.fields, "steps"]

    @extend_schema_field(ReviewEventOutput(many=True))
    def get_steps(self, match) -> list:
        return ReviewEventOutput(selectors.match_events(match), many=True).data


class MatchListApi(GenericAPIView):
    """The review queue: trials a Norwegian patient can reach first, newest first."""

    serializer_class = MatchOutput
    queryset = Match.objects.none()  # the schema's model; rows come from the selector
    pagination_class = KeysetPagination  # the queue's order is QUEUE_ORDER (its indexes)

    class FilterSerializer(serializers.Serializer):
        trial = serializers.IntegerField(required=False)
        institution = serializers.CharField(required=False, allow_blank=True, max_length=20)
        outcome = serializers.ChoiceField(choices=Eligibility.choices, required=False)
        step = serializers.ChoiceField(choices=Step.choices, required=False)
        flagged = serializers.BooleanField(required=False, default=False)
        matching = serializers.ChoiceField(
            choices=selectors.MATCHING_CHOICES,
            required=False,
            default=selectors.CURRENT,
            help_text="current (the funnel's matched), no_longer_matching, or all.",
        )
        include_inactive = serializers.BooleanField(
            required=False, default=False, help_text="The same as matching=all."
        )

    @extend_schema(parameters=[FilterSerializer], responses=MatchOutput(many=True))
    def get(self, request):
        if not selectors.works_trials(request.user):
            raise PermissionDenied("Only trial coordinators and admins review matches.")
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        values = dict(filters.validated_data)
        values["trial_id"] = values.pop("trial", None)
        # The envelope's count from the kept counts (KeysetPagination asks list_count).
        self.list_count = lambda _queryset: selectors.match_queue_count(user=request.user, **values)
        # The page by keyset on the matches' own columns, then its rows by id as values
        # (selectors.keyset_page says why), in MatchOutput's shape without a serializer
        # field per value: DRF's field-by-field work over 50 matches was most of the page.
        page = self.paginate_queryset(
            selectors.match_queue(user=request.user, **values).only(*selectors.QUEUE_PAGE_FIELDS)
        )
        rows = selectors.queue_rows([m.pk for m in page], detail=True)
        patient_access_log(
            request, patient_ids=[row["patient_id"] for row in rows], page="api:trials_matches"
        )
        return self.get_paginated_response([match_as_output(row) for row in rows])


class MatchDetailApi(APIView):
    @extend_schema(responses=MatchDetailOutput)
    def get(self, request, pk: int):
        match = selectors.match_get(user=request.user, pk=pk)
        patient_access_log(request, patient_ids=[match.patient_id], page="api:trials_match")
        return Response(MatchDetailOutput(match).data)


class MoveInput(serializers.Serializer):
    step = serializers.ChoiceField(
        choices=Step.choices,
        help_text="One of the match's allowed_steps: forward one step, closed (with a "
        "close_reason) from any open step, under_review from closed (with a note).",
    )
    close_reason = serializers.ChoiceField(
        choices=CloseReason.choices, required=False, allow_blank=True, default=""
    )
    note = serializers.CharField(required=False, allow_blank=True, default="")


class MatchStepApi(APIView):
    """Move a match to its next step (one event with who, when and the note)."""

    class MatchStepInput(MoveInput):
        version = serializers.IntegerField(
            help_text="The match version you loaded; a match moved meanwhile answers 409."
        )

    @extend_schema(request=MatchStepInput, responses={201: MatchDetailOutput})
    def post(self, request, pk: int):
        match = selectors.match_get(user=request.user, pk=pk)
        data = self.MatchStepInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        services.match_move(
            match=match, by=request.user, expected_version=values.pop("version"), **values
        )
        match = selectors.match_get(user=request.user, pk=pk)
        patient_access_log(request, patient_ids=[match.patient_id], page="api:trials_match_steps")
        return Response(MatchDetailOutput(match).data, status=status.HTTP_201_CREATED)


class MatchBulkStepApi(APIView):
    """The queue's bulk action: move many matches at once."""

    class BulkStepInput(MoveInput):
        matches = serializers.ListField(
            child=serializers.IntegerField(), min_length=1, max_length=500
        )
        versions = serializers.DictField(
            child=serializers.IntegerField(),
            required=False,
            help_text="Match id -> the version you loaded; one moved meanwhile answers 409.",
        )

    @extend_schema(
        operation_id="trials_matches_bulk_steps",
        request=BulkStepInput,
        responses=inline_serializer("Moved", {"moved": serializers.IntegerField()}),
    )
    def post(self, request):
        if not selectors.works_trials(request.user):
            raise PermissionDenied("Only trial coordinators and admins review matches.")
        data = self.BulkStepInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        versions = {}
        for key, version in values.pop("versions", {}).items():
            if not str(key).isdigit():
                raise serializers.ValidationError({"versions": f"{key!r} is not a match id."})
            versions[int(key)] = version
        moved = services.matches_move(
            match_ids=values.pop("matches"), by=request.user, versions=versions, **values
        )
        return Response({"moved": moved})


class MatchCheckApi(APIView):
    """Mark one of the trial's items to check by hand for this patient: met, not met
    (with a note saying what was found) or unchecked again."""

    class CheckInput(serializers.Serializer):
        text = serializers.CharField(max_length=1000, help_text="The item, as the trial lists it.")
        status = serializers.ChoiceField(choices=ManualCheck.Status.choices)
        note = serializers.CharField(required=False, allow_blank=True, default="")
        version = serializers.IntegerField(help_text="The match version you loaded; else 409.")

    @extend_schema(request=CheckInput, responses={200: MatchDetailOutput})
    def post(self, request, pk: int):
        match = selectors.match_get(user=request.user, pk=pk)
        data = self.CheckInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        services.match_check_mark(
            match=match, by=request.user, expected_version=values.pop("version"), **values
        )
        match = selectors.match_get(user=request.user, pk=pk)
        patient_access_log(request, patient_ids=[match.patient_id], page="api:trials_match_checks")
        return Response(MatchDetailOutput(match).data)


class MatchReplyApi(APIView):
    """The treating clinician answers a coordinator's contact request."""

    class ReplyInput(serializers.Serializer):
        answer = serializers.ChoiceField(choices=ReviewEvent.Answer.choices)
        note = serializers.CharField(required=False, allow_blank=True, default="")

    @extend_schema(request=ReplyInput, responses={201: ReviewEventOutput})
    def post(self, request, pk: int):
        match = selectors.match_for_clinician(user=request.user, pk=pk)
        data = self.ReplyInput(data=request.data)
        data.is_valid(raise_exception=True)
        event = services.match_reply(match=match, by=request.user, **data.validated_data)
        return Response(ReviewEventOutput(event).data, status=status.HTTP_201_CREATED)


# --- Suggested criteria ----------------------------------------------------------------


class SuggestionOutput(serializers.ModelSerializer):
    """One criterion read from the eligibility text. `kind` and `value` are the criteria
    schema's leaf type and fields (trials/criteria.py); `start`/`end` are character offsets
    into the trial's eligibility_text and `text` is that span."""

    value = serializers.SerializerMethodField()
    arm = serializers.SerializerMethodField()
    plain = serializers.SerializerMethodField()
    decided_by = serializers.StringRelatedField()
    accept_url = serializers.SerializerMethodField()
    reject_url = serializers.SerializerMethodField()

    class Meta:
        model = Suggestion
        fields = [
            "id",
            "kind",
            "value",
            "polarity",
            "arm",
            "arm_id",
            "start",
            "end",
            "text",
            "confidence",
            "section",
            "note",
            "plain",
            "status",
            "decided_by",
            "decided_at",
            "accept_url",
            "reject_url",
        ]

    @extend_schema_field(serializers.DictField())
    def get_value(self, suggestion) -> dict:
        return {k: v for k, v in suggestion.value.items() if k != "type"}

    def get_arm(self, suggestion) -> str | None:
        return suggestion.arm.label if suggestion.arm_id else None

    def get_plain(self, suggestion) -> str:
        return criteria.describe_leaf(
            suggestion.value, negated=suggestion.polarity == Suggestion.Polarity.EXCLUDE
        )

    def get_accept_url(self, suggestion) -> str:
        return f"/api/v1/trials/{suggestion.trial_id}/suggestions/{suggestion.pk}/accept/"

    def get_reject_url(self, suggestion) -> str:
        return f"/api/v1/trials/{suggestion.trial_id}/suggestions/{suggestion.pk}/reject/"


def _coordinator_only(request) -> None:
    if not selectors.works_trials(request.user):
        raise PermissionDenied("Only trial coordinators and admins confirm suggested criteria.")


class EligibilityReadingOutput(serializers.Serializer):
    status = serializers.ChoiceField(
        choices=["read", "empty", "not_read"],
        help_text="read; empty: no eligibility text; not_read: not in English.",
    )
    message = serializers.CharField()
    language = serializers.CharField(allow_blank=True)


class SuggestionListApi(GenericAPIView):
    """The criteria suggested from the trial's eligibility text, in text order, with
    their status (proposed, accepted, edited, rejected): the list envelope of every
    endpoint ({count, next, previous, results}) with the reading beside it (`reading`:
    read, or empty / not_read with the message saying so)."""

    class OutputSerializer(serializers.Serializer):
        count = serializers.IntegerField()
        next = serializers.URLField(allow_null=True)
        previous = serializers.URLField(allow_null=True)
        results = SuggestionOutput(many=True)
        reading = EligibilityReadingOutput()

        class Meta:
            ref_name = "SuggestionList"

    class FilterSerializer(serializers.Serializer):
        status = serializers.ChoiceField(
            choices=Suggestion.Status.choices, required=False, allow_blank=True, default=""
        )

    serializer_class = OutputSerializer
    queryset = Suggestion.objects.none()

    @extend_schema(parameters=[FilterSerializer], responses=OutputSerializer)
    def get(self, request, pk: int):
        trial = selectors.trial_get(pk=pk)
        _coordinator_only(request)
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        reading = services.suggestions_refresh(trial=trial)
        found = selectors.trial_suggestions(trial=trial, status=filters.validated_data["status"])
        page = self.paginate_queryset(found)
        response = self.get_paginated_response(SuggestionOutput(page, many=True).data)
        response.data["reading"] = EligibilityReadingOutput(reading).data
        return response


class SuggestionAcceptApi(APIView):
    """Accept a suggestion into the trial's criteria (or its arm's), as read or edited:
    validated like any criteria edit (a contradiction is 400), a stale version 409, and
    the trial is re-matched."""

    class AcceptInput(serializers.Serializer):
        version = serializers.IntegerField(help_text="The trial's version you loaded.")
        value = serializers.JSONField(
            required=False,
            help_text="An edit of the suggestion's value (the criteria schema's fields of its "
            "kind); omit to accept it as read.",
        )
        polarity = serializers.ChoiceField(
            choices=Suggestion.Polarity.choices, required=False, help_text="An edit of it."
        )
        arm = serializers.IntegerField(
            required=False, allow_null=True, help_text="Arm id, or null for the whole trial."
        )

    @extend_schema(request=AcceptInput, responses={200: SuggestionOutput})
    def post(self, request, pk: int, n: int):
        trial = selectors.trial_get(pk=pk)
        _coordinator_only(request)
        suggestion = selectors.suggestion_get(trial=trial, pk=n)
        data = self.AcceptInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        arm = "as suggested"
        if "arm" in values:
            arm = None
            if values["arm"] is not None:
                arm = TrialArm.objects.filter(trial=trial, pk=values["arm"]).first()
                if arm is None:
                    raise serializers.ValidationError(
                        {"arm": f"Arm {values['arm']} is not an arm of this trial."}
                    )
        accepted = services.suggestion_accept(
            suggestion=suggestion,
            by=request.user,
            expected_version=values["version"],
            value=values.get("value"),
            polarity=values.get("polarity"),
            arm=arm,
        )
        return Response(
            SuggestionOutput(selectors.suggestion_get(trial=trial, pk=accepted.pk)).data
        )


class SuggestionRejectApi(APIView):
    """Reject a suggestion: it is not proposed again until the eligibility text changes."""

    class RejectInput(serializers.Serializer):
        version = serializers.IntegerField(help_text="The trial's version you loaded.")

    @extend_schema(request=RejectInput, responses={200: SuggestionOutput})
    def post(self, request, pk: int, n: int):
        trial = selectors.trial_get(pk=pk)
        _coordinator_only(request)
        suggestion = selectors.suggestion_get(trial=trial, pk=n)
        data = self.RejectInput(data=request.data)
        data.is_valid(raise_exception=True)
        services.suggestion_reject(
            suggestion=suggestion, by=request.user, expected_version=data.validated_data["version"]
        )
        return Response(SuggestionOutput(selectors.suggestion_get(trial=trial, pk=n)).data)
