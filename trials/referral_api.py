"""REST API of tumour-board referrals to trials, /api/v1/trials/referrals/: the same
services and permissions as the pages (the meeting's clinicians refer, the patient's
coordinators see and take up); register numbers, never names or national IDs."""

from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response

from consortium.services import patient_access_log
from registry import meeting_selectors
from registry.models import MdtDecision

from . import selectors, services
from .models import Trial, TrialReferral


class ReferralOutput(serializers.ModelSerializer):
    register_number = serializers.CharField(source="patient.register_number")
    trial = serializers.CharField(source="trial.nct_id")
    trial_title = serializers.CharField(source="trial.brief_title")
    meeting = serializers.IntegerField(source="decision.item.meeting_id")
    referred_by = serializers.EmailField(source="by.email")

    class Meta:
        model = TrialReferral
        fields = [
            "id",
            "register_number",
            "episode",
            "trial",
            "trial_title",
            "match",
            "meeting",
            "decision",
            "note",
            "status",
            "referred_by",
            "at",
            "taken_up_at",
        ]


class ReferralInput(serializers.Serializer):
    decision = serializers.IntegerField(
        help_text="The board's decision (its plan refers to a trial)."
    )
    trial = serializers.PrimaryKeyRelatedField(queryset=Trial.objects.all())
    note = serializers.CharField(max_length=5000, required=False, allow_blank=True, default="")

    class Meta:
        ref_name = "TrialReferralInput"


class ReferralListApi(GenericAPIView):
    """Tumour-board referrals of your institutions' patients (`?status=open|taken_up`).
    POST refers the decision's patient to a trial (the meeting's clinicians)."""

    serializer_class = ReferralOutput
    queryset = TrialReferral.objects.none()

    @extend_schema(
        parameters=[OpenApiParameter("status", str, enum=TrialReferral.Status.values)],
        responses=ReferralOutput(many=True),
    )
    def get(self, request):
        referrals = selectors.referral_list(
            request.user, status=request.query_params.get("status", "")
        )
        page = self.paginate_queryset(referrals)
        patient_access_log(
            request, patient_ids=[r.patient_id for r in page], page="api:trials_referrals"
        )
        return self.get_paginated_response(ReferralOutput(page, many=True).data)

    @extend_schema(request=ReferralInput, responses={201: ReferralOutput})
    def post(self, request):
        data = ReferralInput(data=request.data)
        data.is_valid(raise_exception=True)
        decision = (
            MdtDecision.objects.select_related("item__meeting")
            .filter(pk=data.validated_data["decision"])
            .first()
        )
        if decision is None:
            raise Http404("No such decision.")
        meeting = meeting_selectors.meeting_get(
            user=request.user, meeting_id=decision.item.meeting_id
        )
        decision.item = meeting_selectors.item_get(
            user=request.user, meeting=meeting, item_id=decision.item_id
        )
        referral = services.referral_create(
            decision=decision,
            by=request.user,
            trial=data.validated_data["trial"],
            note=data.validated_data["note"],
        )
        patient_access_log(request, patient_ids=[referral.patient_id], page="api:trials_referrals")
        referral = selectors.referral_get(user=request.user, pk=referral.pk)
        return Response(ReferralOutput(referral).data, status=status.HTTP_201_CREATED)


class ReferralTakeUpApi(GenericAPIView):
    """A coordinator takes the referral up (it leaves the open list)."""

    serializer_class = ReferralOutput
    queryset = TrialReferral.objects.none()

    @extend_schema(request=None, responses=ReferralOutput)
    def post(self, request, pk: int):
        referral = selectors.referral_get(user=request.user, pk=pk)
        services.referral_take_up(referral=referral, by=request.user)
        patient_access_log(request, patient_ids=[referral.patient_id], page="api:trials_referral")
        return Response(ReferralOutput(selectors.referral_get(user=request.user, pk=pk)).data)
