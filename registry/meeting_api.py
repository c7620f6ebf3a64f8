"""REST API of tumour-board (MDT) meetings, /api/v1/registry/meetings/: the same
services, rules and permissions as the pages. A meeting or agenda item the member may
not see is 404; a refused rule is 400 naming the field; a stale edit is 409."""

from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response

from consortium.models import Institution, Role, User
from consortium.services import patient_access_log

from . import meeting_selectors, meeting_services, panels, selectors
from .models import MdtAgendaItem, MdtDecision, MdtDiscipline, MdtMeeting, MdtPlan, MdtSummary


def _require_clinical(user) -> None:
    if user.role not in selectors.CLINICAL_ROLES and not user.is_consortium_admin:
        raise PermissionDenied("Tumour boards are for clinicians, coordinators and admins.")


class ParticipantField(serializers.Serializer):
    member = serializers.EmailField(help_text="The member's e-mail address.")
    discipline = serializers.ChoiceField(choices=MdtDiscipline.choices)

    class Meta:
        ref_name = "MdtParticipant"


class ParticipantOutput(serializers.Serializer):
    member = serializers.EmailField(source="member.email")
    name = serializers.CharField(source="member.full_name")
    discipline = serializers.CharField()
    invited = serializers.BooleanField()

    class Meta:
        ref_name = "MdtParticipantOutput"


class MeetingOutput(serializers.ModelSerializer):
    institution = serializers.SlugRelatedField(slug_field="code", read_only=True)
    participants = ParticipantOutput(many=True, read_only=True)
    url = serializers.CharField(source="get_absolute_url", read_only=True)

    class Meta:
        model = MdtMeeting
        fields = [
            "id",
            "institution",
            "kind",
            "title",
            "starts_at",
            "ends_at",
            "location",
            "participants",
            "version",
            "url",
        ]


class MeetingInput(serializers.Serializer):
    institution = serializers.SlugRelatedField(
        slug_field="code", queryset=Institution.objects.filter(kind=Institution.Kind.HOSPITAL)
    )
    kind = serializers.ChoiceField(choices=MdtMeeting.Kind.choices)
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField()
    title = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    location = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    participants = ParticipantField(many=True, required=False, default=list)

    class Meta:
        ref_name = "MdtMeetingInput"


class MeetingPatchInput(serializers.Serializer):
    version = serializers.IntegerField(help_text="The version you loaded; a newer one is 409.")
    kind = serializers.ChoiceField(choices=MdtMeeting.Kind.choices, required=False)
    starts_at = serializers.DateTimeField(required=False)
    ends_at = serializers.DateTimeField(required=False)
    title = serializers.CharField(max_length=200, required=False, allow_blank=True)
    location = serializers.CharField(max_length=200, required=False, allow_blank=True)
    participants = ParticipantField(many=True, required=False)

    class Meta:
        ref_name = "MdtMeetingPatch"


def _participants(rows) -> list[tuple[User, str]]:
    emails = [row["member"].lower() for row in rows]
    members = {
        u.email.lower(): u
        for u in User.objects.filter(email__in=emails, is_active=True).prefetch_related(
            "institutions"
        )
    }
    missing = [e for e in emails if e not in members]
    if missing:
        raise serializers.ValidationError(
            {"participants": f"No active member with the e-mail {', '.join(missing)}."}
        )
    return [(members[row["member"].lower()], row["discipline"]) for row in rows]


class DecisionOutput(serializers.ModelSerializer):
    responsible = serializers.EmailField(source="responsible.email")
    decided_by = serializers.EmailField(source="decided_by.email")
    follow_up_forms = serializers.SerializerMethodField(
        help_text="The prefilled forms the plan opens (a trial referral, a screening request)."
    )

    class Meta:
        model = MdtDecision
        fields = [
            "recommendation",
            "plan",
            "plan_other",
            "responsible",
            "follow_up_actions",
            "decided_by",
            "decided_at",
            "change_reason",
            "version",
            "follow_up_forms",
        ]

    def get_follow_up_forms(self, decision) -> list[dict]:
        return [{"label": label, "url": url} for label, url in panels.plan_actions(decision)]


class ItemOutput(serializers.ModelSerializer):
    register_number = serializers.CharField(source="patient.register_number")
    episode = serializers.IntegerField(source="episode_id")
    diagnosis = serializers.CharField(source="episode.diagnosis")
    who_grade = serializers.IntegerField(source="episode.who_grade", allow_null=True)
    decision = serializers.SerializerMethodField()

    class Meta:
        model = MdtAgendaItem
        fields = [
            "id",
            "register_number",
            "episode",
            "diagnosis",
            "who_grade",
            "question",
            "position",
            "decision",
        ]

    @extend_schema_field(DecisionOutput(allow_null=True))
    def get_decision(self, item):
        decision = meeting_selectors.decision_of(item)
        return DecisionOutput(decision).data if decision else None


class ItemInput(serializers.Serializer):
    episode = serializers.IntegerField(help_text="The tumour episode's id.")
    question = serializers.CharField(max_length=2000)

    class Meta:
        ref_name = "MdtAgendaItemInput"


class DecisionInput(serializers.Serializer):
    recommendation = serializers.CharField(max_length=5000)
    plan = serializers.ListField(child=serializers.ChoiceField(choices=MdtPlan.choices))
    plan_other = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    responsible = serializers.EmailField(help_text="The responsible clinician's e-mail.")
    follow_up_actions = serializers.CharField(
        max_length=5000, required=False, allow_blank=True, default=""
    )
    version = serializers.IntegerField(
        required=False, help_text="Required when changing a recorded decision."
    )
    reason = serializers.CharField(
        max_length=500,
        required=False,
        allow_blank=True,
        default="",
        help_text="Required when the decision is changed after the meeting.",
    )

    class Meta:
        ref_name = "MdtDecisionInput"


class SummaryOutput(serializers.ModelSerializer):
    pdf_url = serializers.SerializerMethodField()

    class Meta:
        model = MdtSummary
        fields = ["id", "status", "requested_at", "finished_at", "error", "pdf_url"]

    def get_pdf_url(self, summary) -> str:
        from django.urls import reverse

        if summary.status != MdtSummary.Status.DONE:
            return ""
        return reverse("registry:meeting_summary_pdf", args=[summary.meeting_id])


def _meeting(request, meeting_id: int) -> MdtMeeting:
    return meeting_selectors.meeting_get(user=request.user, meeting_id=meeting_id)


class MeetingListApi(GenericAPIView):
    """Tumour-board meetings you see (`?when=past` for past ones). POST schedules one at
    one of your hospitals (clinicians), with its members by discipline."""

    serializer_class = MeetingOutput
    queryset = MdtMeeting.objects.none()

    @extend_schema(responses=MeetingOutput(many=True))
    def get(self, request):
        _require_clinical(request.user)
        when = "past" if request.query_params.get("when") == "past" else "upcoming"
        meetings = meeting_selectors.meeting_list(request.user, when=when).prefetch_related(
            "participants__member"
        )
        page = self.paginate_queryset(meetings)
        return self.get_paginated_response(MeetingOutput(page, many=True).data)

    @extend_schema(request=MeetingInput, responses={201: MeetingOutput})
    def post(self, request):
        data = MeetingInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        meeting = meeting_services.meeting_schedule(
            by=request.user, participants=_participants(values.pop("participants")), **values
        )
        meeting = meeting_selectors.meeting_get(user=request.user, meeting_id=meeting.pk)
        return Response(MeetingOutput(meeting).data, status=status.HTTP_201_CREATED)


class MeetingDetailApi(GenericAPIView):
    serializer_class = MeetingOutput
    queryset = MdtMeeting.objects.none()

    @extend_schema(responses=MeetingOutput)
    def get(self, request, meeting_id: int):
        return Response(MeetingOutput(_meeting(request, meeting_id)).data)

    @extend_schema(request=MeetingPatchInput, responses=MeetingOutput)
    def patch(self, request, meeting_id: int):
        meeting = _meeting(request, meeting_id)
        data = MeetingPatchInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        participants = values.pop("participants", None)
        meeting_services.meeting_update(
            meeting=meeting,
            by=request.user,
            expected_version=values.pop("version"),
            participants=None if participants is None else _participants(participants),
            **values,
        )
        return Response(MeetingOutput(_meeting(request, meeting_id)).data)


class AgendaApi(GenericAPIView):
    """The agenda items you see now (invited members: during the meeting's window only).
    POST adds a patient's tumour episode with the question for the board."""

    serializer_class = ItemOutput
    queryset = MdtAgendaItem.objects.none()

    @extend_schema(responses=ItemOutput(many=True))
    def get(self, request, meeting_id: int):
        meeting = _meeting(request, meeting_id)
        items, _ = meeting_selectors.agenda(user=request.user, meeting=meeting)
        page = self.paginate_queryset(items)
        patient_access_log(
            request, patient_ids=[i.patient_id for i in page], page="api:registry_meeting_items"
        )
        return self.get_paginated_response(ItemOutput(page, many=True).data)

    @extend_schema(request=ItemInput, responses={201: ItemOutput})
    def post(self, request, meeting_id: int):
        meeting = _meeting(request, meeting_id)
        data = ItemInput(data=request.data)
        data.is_valid(raise_exception=True)
        item = meeting_services.agenda_item_add(
            meeting=meeting,
            by=request.user,
            episode_id=data.validated_data["episode"],
            question=data.validated_data["question"],
        )
        item = meeting_selectors.item_get(user=request.user, meeting=meeting, item_id=item.pk)
        patient_access_log(
            request, patient_ids=[item.patient_id], page="api:registry_meeting_items"
        )
        return Response(ItemOutput(item).data, status=status.HTTP_201_CREATED)


def _item(request, meeting_id: int, item_id: int, page: str):
    meeting = _meeting(request, meeting_id)
    item = meeting_selectors.item_get(user=request.user, meeting=meeting, item_id=item_id)
    patient_access_log(request, patient_ids=[item.patient_id], page=page)
    return meeting, item


class AgendaItemApi(GenericAPIView):
    serializer_class = ItemOutput
    queryset = MdtAgendaItem.objects.none()

    @extend_schema(responses=ItemOutput)
    def get(self, request, meeting_id: int, item_id: int):
        _, item = _item(request, meeting_id, item_id, "api:registry_meeting_item")
        return Response(ItemOutput(item).data)

    @extend_schema(responses={204: None})
    def delete(self, request, meeting_id: int, item_id: int):
        _, item = _item(request, meeting_id, item_id, "api:registry_meeting_item")
        meeting_services.agenda_item_remove(item=item, by=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class DecisionApi(GenericAPIView):
    """The board's decision on one agenda item. PUT records or changes it: not before the
    meeting has started; a change after it ended needs `reason`; a change needs `version`."""

    serializer_class = DecisionOutput
    queryset = MdtDecision.objects.none()

    @extend_schema(responses=DecisionOutput)
    def get(self, request, meeting_id: int, item_id: int):
        _, item = _item(request, meeting_id, item_id, "api:registry_meeting_decision")
        decision = get_object_or_404(MdtDecision, item=item)
        return Response(DecisionOutput(decision).data)

    @extend_schema(request=DecisionInput, responses=DecisionOutput)
    def put(self, request, meeting_id: int, item_id: int):
        _, item = _item(request, meeting_id, item_id, "api:registry_meeting_decision")
        data = DecisionInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        existing = meeting_selectors.decision_of(item)
        if existing is not None and values.get("version") is None:
            raise serializers.ValidationError(
                {"version": "Required when changing a recorded decision: the version you loaded."}
            )
        responsible = User.objects.filter(
            email__iexact=values.pop("responsible"), is_active=True, role=Role.CLINICIAN
        ).first()
        if responsible is None:
            raise serializers.ValidationError(
                {"responsible": "No active clinician with this e-mail address."}
            )
        decision = meeting_services.decision_save(
            item=item,
            by=request.user,
            responsible=responsible,
            expected_version=values.pop("version", None),
            **values,
        )
        return Response(DecisionOutput(decision).data)


class SummaryApi(GenericAPIView):
    """The meeting's newest summary; POST makes a new one (a Celery task, 202)."""

    serializer_class = SummaryOutput
    queryset = MdtSummary.objects.none()

    @extend_schema(responses=SummaryOutput)
    def get(self, request, meeting_id: int):
        meeting = _meeting(request, meeting_id)
        summary = meeting.summaries.defer("pdf", "body_html").first()
        if summary is None:
            from django.http import Http404

            raise Http404("No summary yet.")
        return Response(SummaryOutput(summary).data)

    @extend_schema(request=None, responses={202: SummaryOutput})
    def post(self, request, meeting_id: int):
        meeting = _meeting(request, meeting_id)
        summary = meeting_services.summary_request(meeting=meeting, by=request.user)
        return Response(SummaryOutput(summary).data, status=status.HTTP_202_ACCEPTED)
