"""REST API of the screening app, /api/v1/screening/: the same services, rules and
permissions as the pages. Bad input and illegal moves are 400 with field names
({"message", "extra": {"fields"}}), a move against an older version is 409, anything
the member may not see is 404. Patients appear by register number only."""

from django.http import Http404
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response

from consortium.models import Institution
from consortium.pagination import KeysetPagination
from consortium.services import patient_access_log
from registry import selectors as registry_selectors

from . import selectors, services, transport
from .filters import RequestFilter
from .models import (
    AnalysisRun,
    Drug,
    DrugPanel,
    DrugResult,
    HandOver,
    LoggerUpload,
    Plate,
    Receipt,
    Report,
    Sample,
    SampleType,
    ScreeningRequest,
    Shipment,
    TemperatureReading,
)


class ScreeningApi(GenericAPIView):
    """The screening endpoints' base (never cached, like every API answer: see
    consortium.middleware.ApiNeverCachedMiddleware)."""


def _log(request, patient_ids, page: str) -> None:
    patient_access_log(request, patient_ids=patient_ids, page=page)


# --- Output ------------------------------------------------------------------------------


class EventOutput(serializers.Serializer):
    from_state = serializers.CharField()
    to_state = serializers.CharField()
    at = serializers.DateTimeField()
    by = serializers.CharField()
    note = serializers.CharField()


class RequestOutput(serializers.ModelSerializer):
    register_number = serializers.CharField(source="patient.register_number")
    lab = serializers.CharField(source="lab.code")
    surgery_hospital = serializers.CharField(source="surgery_hospital.code")
    panel = serializers.CharField(source="panel.name", default=None)
    allowed_states = serializers.SerializerMethodField()

    class Meta:
        model = ScreeningRequest
        fields = [
            "id",
            "register_number",
            "episode",
            "lab",
            "indication",
            "planned_surgery_date",
            "surgery_hospital",
            "panel",
            "priority",
            "consent_date",
            "consent_form_version",
            "consent_scope",
            "state",
            "allowed_states",
            "expected_sample_date",
            "created_at",
            "updated_at",
            "version",
        ]

    def get_allowed_states(self, obj) -> list[str]:
        return services.allowed_next(obj.state)


class RequestDetailOutput(RequestOutput):
    drugs = serializers.SlugRelatedField(many=True, read_only=True, slug_field="name")
    transitions = EventOutput(many=True)

    class Meta(RequestOutput.Meta):
        fields = RequestOutput.Meta.fields + ["drugs", "transitions"]


class ReceiptOutput(serializers.ModelSerializer):
    received_by = serializers.CharField()

    class Meta:
        model = Receipt
        fields = [
            "arrived_at",
            "condition",
            "arrival_celsius",
            "viable_cell_count",
            "viability_percent",
            "accepted",
            "rejection_reason",
            "received_by",
            "recorded_at",
        ]


class SampleOutput(serializers.ModelSerializer):
    label_id = serializers.CharField()
    sample_type = serializers.CharField(source="sample_type.code")
    shipment = serializers.SerializerMethodField()
    receipt = serializers.SerializerMethodField()

    class Meta:
        model = Sample
        fields = [
            "id",
            "label_id",
            "request",
            "sample_type",
            "amount",
            "amount_unit",
            "medium",
            "collected_at",
            "shipment",
            "receipt",
        ]

    def get_receipt(self, obj) -> ReceiptOutput(allow_null=True):  # type: ignore[valid-type]
        receipt = obj.receipt if hasattr(obj, "receipt") else None
        return ReceiptOutput(receipt).data if receipt else None

    def get_shipment(self, obj) -> int | None:
        return obj.shipment.pk if hasattr(obj, "shipment") else None


class HandOverOutput(serializers.ModelSerializer):
    entered_by = serializers.CharField()

    class Meta:
        model = HandOver
        fields = ["id", "giver", "receiver", "place", "at", "entered_by"]


class ReadingOutput(serializers.ModelSerializer):
    class Meta:
        model = TemperatureReading
        fields = ["at", "celsius", "upload"]


class ExcursionOutput(serializers.Serializer):
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    minutes = serializers.FloatField()
    extreme = serializers.DecimalField(max_digits=5, decimal_places=2)
    readings = serializers.IntegerField()


class ShipmentOutput(serializers.ModelSerializer):
    sample = serializers.CharField(source="sample.label_id")
    request = serializers.IntegerField(source="sample.request_id")
    register_number = serializers.CharField(source="sample.request.patient.register_number")
    elapsed_hours = serializers.SerializerMethodField()
    window_hours = serializers.SerializerMethodField()
    hours_left = serializers.SerializerMethodField()
    excursions = serializers.SerializerMethodField()
    custody_gaps = serializers.SerializerMethodField()
    handovers = HandOverOutput(many=True)

    class Meta:
        model = Shipment
        fields = [
            "id",
            "sample",
            "request",
            "register_number",
            "packaging",
            "dry_ice_kg",
            "courier",
            "tracking_reference",
            "dispatched_at",
            "expected_arrival",
            "elapsed_hours",
            "window_hours",
            "hours_left",
            "excursions",
            "handovers",
            "custody_gaps",
        ]

    def _status(self, obj):
        if not hasattr(obj, "_status"):
            obj._status = transport.shipment_status(obj)
        return obj._status

    def get_elapsed_hours(self, obj) -> float:
        return round(self._status(obj).elapsed_hours, 2)

    def get_window_hours(self, obj) -> int:
        return self._status(obj).window_hours

    def get_hours_left(self, obj) -> float:
        return round(self._status(obj).hours_left, 2)

    def get_excursions(self, obj) -> ExcursionOutput(many=True):  # type: ignore[valid-type]
        return ExcursionOutput(self._status(obj).excursions, many=True).data

    def get_custody_gaps(self, obj) -> list[str]:
        return transport.custody_gaps(
            list(obj.handovers.all()), received=hasattr(obj.sample, "receipt")
        )


class UploadOutput(serializers.ModelSerializer):
    class Meta:
        model = LoggerUpload
        fields = [
            "id",
            "filename",
            "device_serial",
            "time_zone",
            "readings",
            "added",
            "uploaded_at",
        ]


# --- Requests ----------------------------------------------------------------------------


class RequestListApi(ScreeningApi):
    """Screening requests you may see. POST: a clinician of the patient's institutions
    requests a screen (consent required)."""

    class RequestCreateInput(serializers.Serializer):
        register_number = serializers.CharField()
        episode = serializers.IntegerField(help_text="The tumour episode's id.")
        lab = serializers.SlugRelatedField(slug_field="code", queryset=Institution.objects.all())
        indication = serializers.CharField()
        planned_surgery_date = serializers.DateField()
        surgery_hospital = serializers.SlugRelatedField(
            slug_field="code", queryset=Institution.objects.all()
        )
        panel = serializers.PrimaryKeyRelatedField(
            queryset=DrugPanel.objects.all(), required=False, allow_null=True
        )
        drugs = serializers.PrimaryKeyRelatedField(
            queryset=Drug.objects.all(), many=True, required=False
        )
        priority = serializers.ChoiceField(
            choices=ScreeningRequest.Priority.choices, required=False
        )
        consent_date = serializers.DateField(required=False, allow_null=True)
        consent_form_version = serializers.CharField(required=False, allow_blank=True)
        consent_scope = serializers.ChoiceField(
            choices=ScreeningRequest.ConsentScope.choices, required=False, allow_blank=True
        )

    serializer_class = RequestOutput
    queryset = ScreeningRequest.objects.none()
    pagination_class = KeysetPagination
    filterset_class = RequestFilter

    @extend_schema(responses=RequestOutput(many=True))
    def get(self, request):
        """Filter by `state`, `priority`, `lab` (code); `sort` by requested (default
        -requested, newest first) or surgery. Pages by keyset."""
        selectors.require_viewer(request.user)
        page = self.paginate_queryset(self.filter_queryset(selectors.request_list(request.user)))
        _log(request, [r.patient_id for r in page], "api:screening_requests")
        return self.get_paginated_response(RequestOutput(page, many=True).data)

    @extend_schema(request=RequestCreateInput, responses={201: RequestDetailOutput})
    def post(self, request):
        data = _valid(self.RequestCreateInput, request)
        patient = registry_selectors.patient_get(
            user=request.user, register_number=data.pop("register_number")
        )
        episode = get_object_or_404(patient.episodes, pk=data.pop("episode"))
        created = services.request_create(by=request.user, episode=episode, **data)
        _log(request, [patient.pk], "api:screening_requests")
        return Response(
            RequestDetailOutput(
                selectors.request_get(user=request.user, request_id=created.pk)
            ).data,
            status=status.HTTP_201_CREATED,
        )


def _valid(serializer_class, request) -> dict:
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def _request(request, request_id: int, page: str) -> ScreeningRequest:
    found = selectors.request_get(user=request.user, request_id=request_id)
    _log(request, [found.patient_id], page)
    return found


class RequestDetailApi(ScreeningApi):
    serializer_class = RequestDetailOutput
    queryset = ScreeningRequest.objects.none()

    def get(self, request, request_id: int):
        return Response(
            RequestDetailOutput(_request(request, request_id, "api:screening_request")).data
        )


class TransitionApi(ScreeningApi):
    """Move the request to `state`: accept (with expected_sample_date), decline or cancel
    (note = the reason), in_culture, screening, reported. An illegal move is 400 naming
    the current state, the wanted state and the allowed ones."""

    class TransitionInput(serializers.Serializer):
        state = serializers.CharField()
        note = serializers.CharField(required=False, allow_blank=True, default="")
        expected_sample_date = serializers.DateField(required=False, allow_null=True)
        version = serializers.IntegerField(
            required=False, help_text="The version you loaded; a newer one is 409."
        )

    serializer_class = TransitionInput

    @extend_schema(request=TransitionInput, responses=RequestDetailOutput)
    def post(self, request, request_id: int):
        screening_request = _request(request, request_id, "api:screening_transition")
        data = _valid(self.TransitionInput, request)
        services.request_transition(
            screening_request=screening_request,
            to=data["state"],
            by=request.user,
            note=data["note"],
            expected_sample_date=data.get("expected_sample_date"),
            expected_version=data.get("version"),
        )
        return Response(
            RequestDetailOutput(
                selectors.request_get(user=request.user, request_id=request_id)
            ).data
        )


# --- Samples, shipments, receipts --------------------------------------------------------------


class SampleListApi(ScreeningApi):
    """The request's samples. POST: the sending hospital registers the (new) sample."""

    class SampleInput(serializers.Serializer):
        sample_type = serializers.SlugRelatedField(
            slug_field="code", queryset=SampleType.objects.all()
        )
        amount = serializers.DecimalField(max_digits=8, decimal_places=2)
        amount_unit = serializers.ChoiceField(choices=["mg", "ml", "cells"])
        medium = serializers.CharField(max_length=100)
        collected_at = serializers.DateTimeField()
        version = serializers.IntegerField(required=False)

    serializer_class = SampleOutput
    queryset = Sample.objects.none()

    @extend_schema(responses=SampleOutput(many=True))
    def get(self, request, request_id: int):
        screening_request = _request(request, request_id, "api:screening_samples")
        page = self.paginate_queryset(selectors.request_samples(screening_request))
        return self.get_paginated_response(SampleOutput(page, many=True).data)

    @extend_schema(request=SampleInput, responses={201: SampleOutput})
    def post(self, request, request_id: int):
        screening_request = _request(request, request_id, "api:screening_samples")
        data = _valid(self.SampleInput, request)
        version = data.pop("version", None)
        sample = services.sample_register(
            screening_request=screening_request, by=request.user, expected_version=version, **data
        )
        return Response(SampleOutput(sample).data, status=status.HTTP_201_CREATED)


def _sample(request, sample_id: int, page: str) -> Sample:
    sample = selectors.sample_get(user=request.user, sample_id=sample_id)
    _log(request, [sample.request.patient_id], page)
    return sample


class ShipmentCreateApi(ScreeningApi):
    """Dispatch the sample (the request becomes in transit)."""

    class ShipmentInput(serializers.Serializer):
        packaging = serializers.ChoiceField(choices=Shipment.Packaging.choices)
        dry_ice_kg = serializers.DecimalField(
            max_digits=5, decimal_places=2, required=False, allow_null=True
        )
        courier = serializers.CharField(max_length=100)
        tracking_reference = serializers.CharField(max_length=100, required=False, allow_blank=True)
        dispatched_at = serializers.DateTimeField()
        expected_arrival = serializers.DateTimeField()
        version = serializers.IntegerField(required=False)

    serializer_class = ShipmentInput

    @extend_schema(request=ShipmentInput, responses={201: ShipmentOutput})
    def post(self, request, sample_id: int):
        sample = _sample(request, sample_id, "api:screening_shipment_create")
        data = _valid(self.ShipmentInput, request)
        version = data.pop("version", None)
        shipment = services.shipment_dispatch(
            sample=sample, by=request.user, expected_version=version, **data
        )
        return Response(
            ShipmentOutput(selectors.shipment_get(user=request.user, shipment_id=shipment.pk)).data,
            status=status.HTTP_201_CREATED,
        )


class ReceiptApi(ScreeningApi):
    """The lab records the sample's arrival: accepted (with viable cell count and
    viability) or rejected with a reason (the request then asks for a new sample)."""

    class ReceiptInput(serializers.Serializer):
        arrived_at = serializers.DateTimeField()
        condition = serializers.ChoiceField(choices=Receipt.Condition.choices)
        arrival_celsius = serializers.DecimalField(max_digits=5, decimal_places=1)
        viable_cell_count = serializers.IntegerField(min_value=0, required=False, allow_null=True)
        viability_percent = serializers.DecimalField(
            max_digits=4, decimal_places=1, required=False, allow_null=True
        )
        accepted = serializers.BooleanField()
        rejection_reason = serializers.CharField(required=False, allow_blank=True, default="")
        version = serializers.IntegerField(required=False)

    serializer_class = ReceiptOutput

    @extend_schema(responses=ReceiptOutput)
    def get(self, request, sample_id: int):
        sample = _sample(request, sample_id, "api:screening_receipt")
        if not hasattr(sample, "receipt"):
            raise Http404("No receipt recorded yet.")
        return Response(ReceiptOutput(sample.receipt).data)

    @extend_schema(request=ReceiptInput, responses={201: ReceiptOutput})
    def post(self, request, sample_id: int):
        sample = _sample(request, sample_id, "api:screening_receipt")
        data = _valid(self.ReceiptInput, request)
        version = data.pop("version", None)
        receipt = services.receipt_record(
            sample=sample, by=request.user, expected_version=version, **data
        )
        return Response(ReceiptOutput(receipt).data, status=status.HTTP_201_CREATED)


def _shipment(request, shipment_id: int, page: str) -> Shipment:
    shipment = selectors.shipment_get(user=request.user, shipment_id=shipment_id)
    _log(request, [shipment.sample.request.patient_id], page)
    return shipment


class ShipmentDetailApi(ScreeningApi):
    """The shipment with elapsed time against the window, excursions and hand-overs."""

    serializer_class = ShipmentOutput
    queryset = Shipment.objects.none()

    def get(self, request, shipment_id: int):
        return Response(
            ShipmentOutput(_shipment(request, shipment_id, "api:screening_shipment")).data
        )


class HandOverListApi(ScreeningApi):
    """Hand-overs (couriers are not members: the person handing over or receiving enters
    them). A hand-over without a receiver is a gap in custody, listed in custody_gaps."""

    class HandOverInput(serializers.Serializer):
        giver = serializers.CharField(max_length=150)
        receiver = serializers.CharField(
            max_length=150, required=False, allow_blank=True, default=""
        )
        place = serializers.CharField(max_length=150)
        at = serializers.DateTimeField()

    serializer_class = HandOverOutput
    queryset = HandOver.objects.none()

    @extend_schema(responses=HandOverOutput(many=True))
    def get(self, request, shipment_id: int):
        shipment = _shipment(request, shipment_id, "api:screening_handovers")
        page = self.paginate_queryset(shipment.handovers.select_related("entered_by"))
        return self.get_paginated_response(HandOverOutput(page, many=True).data)

    @extend_schema(request=HandOverInput, responses={201: HandOverOutput})
    def post(self, request, shipment_id: int):
        shipment = _shipment(request, shipment_id, "api:screening_handovers")
        handover = services.handover_add(
            shipment=shipment, by=request.user, **_valid(self.HandOverInput, request)
        )
        return Response(HandOverOutput(handover).data, status=status.HTTP_201_CREATED)


class ReadingListApi(ScreeningApi):
    """Temperature readings (°C, UTC). POST one reading entered by hand."""

    class ReadingInput(serializers.Serializer):
        at = serializers.DateTimeField()
        celsius = serializers.DecimalField(max_digits=5, decimal_places=2)

    serializer_class = ReadingOutput
    queryset = TemperatureReading.objects.none()

    @extend_schema(responses=ReadingOutput(many=True))
    def get(self, request, shipment_id: int):
        shipment = _shipment(request, shipment_id, "api:screening_readings")
        page = self.paginate_queryset(selectors.readings_for(shipment))
        return self.get_paginated_response(ReadingOutput(page, many=True).data)

    @extend_schema(request=ReadingInput, responses={201: ReadingOutput})
    def post(self, request, shipment_id: int):
        shipment = _shipment(request, shipment_id, "api:screening_readings")
        reading = services.reading_add(
            shipment=shipment, by=request.user, **_valid(self.ReadingInput, request)
        )
        return Response(ReadingOutput(reading).data, status=status.HTTP_201_CREATED)


class ReadingUploadApi(ScreeningApi):
    """A temperature logger's CSV (multipart `file`, optional `time_zone` for timestamps
    without an offset). Whole or not at all: a bad line is 400 naming the line; the same
    file twice is refused; readings already there are kept once."""

    class ReadingUploadInput(serializers.Serializer):
        file = serializers.FileField()
        time_zone = serializers.CharField(required=False, allow_blank=True, default="")

    serializer_class = ReadingUploadInput
    parser_classes = [MultiPartParser]

    @extend_schema(
        request={"multipart/form-data": ReadingUploadInput}, responses={201: UploadOutput}
    )
    def post(self, request, shipment_id: int):
        shipment = _shipment(request, shipment_id, "api:screening_readings_upload")
        data = _valid(self.ReadingUploadInput, request)
        upload = services.logger_upload(
            shipment=shipment,
            by=request.user,
            content=data["file"].read(),
            filename=data["file"].name,
            time_zone=data["time_zone"],
        )
        return Response(UploadOutput(upload).data, status=status.HTTP_201_CREATED)


# --- Plate results --------------------------------------------------------------------------------


class PlateOutput(serializers.ModelSerializer):
    override_by = serializers.CharField(source="override_by.email", default=None)

    class Meta:
        model = Plate
        fields = [
            "id",
            "name",
            "qc_status",
            "qc_flags",
            "z_prime",
            "ssmd",
            "cv_negative",
            "cv_positive",
            "edge_percent",
            "mu_negative",
            "mu_positive",
            "override_reason",
            "override_by",
            "override_at",
        ]


class DrugResultOutput(serializers.ModelSerializer):
    class Meta:
        model = DrugResult
        fields = [
            "drug_name",
            "drug_class",
            "plates",
            "top",
            "bottom",
            "log_ic50",
            "ic50_nm",
            "slope",
            "errors",
            "r_squared",
            "residual_sd",
            "auc",
            "x_min",
            "x_max",
            "fit_flags",
            "converged",
            "fit_evaluations",
            "qc_flags",
            "scored",
            "dss1",
            "dss2",
            "dss3",
            "selective_dss",
            "points",
        ]


class RunOutput(serializers.ModelSerializer):
    reference_set = serializers.SerializerMethodField(
        help_text="Name and version of the reference set that made DSS selective; null if none."
    )

    class Meta:
        model = AnalysisRun
        fields = [
            "id",
            "status",
            "created_at",
            "started_at",
            "finished_at",
            "error",
            "thresholds",
            "reference_set",
            "seconds",
        ]

    def get_reference_set(self, run) -> str | None:
        return str(run.reference_set) if run.reference_set_id else None


class ResultsOutput(serializers.Serializer):
    register_number = serializers.CharField()
    run = RunOutput(allow_null=True)
    plates = PlateOutput(many=True)
    drugs = DrugResultOutput(many=True)
    released_reports = serializers.ListField(child=serializers.IntegerField())


class ResultsApi(ScreeningApi):
    """Per drug, ranked (selective DSS, else DSS2): the fitted parameters with their
    standard errors, AUC, R², DSS1-3, sDSS, and fit and QC flags; with each plate's QC.
    The lab sees its newest run (`run.status` shows progress); the patient's clinicians
    and coordinators the run of the newest released report (else `run` is null)."""

    serializer_class = ResultsOutput
    queryset = ScreeningRequest.objects.none()

    def get(self, request, request_id: int):
        screening_request = _request(request, request_id, "api:screening_results")
        run = selectors.visible_run(request.user, screening_request)
        done = run is not None and run.status == AnalysisRun.Status.DONE
        data = {
            "register_number": screening_request.patient.register_number,
            "run": run,
            "plates": selectors.run_plates(run) if run else [],
            "drugs": selectors.ranked_results(run) if done else [],
            "released_reports": [r.pk for r in selectors.released_reports(screening_request)],
        }
        return Response(ResultsOutput(data).data)


class PlateUploadApi(ScreeningApi):
    """Upload plates (multipart): `layout` (CSV) or `layout_template` (a saved layout's
    id), one or more `readouts`, `plate_format` (96 or 384), optional `save_template_as`.
    Whole or not at all: a bad line is 400 naming the file and line. 202: the analysis
    runs in the background; poll the results endpoint."""

    class PlateUploadInput(serializers.Serializer):
        layout = serializers.FileField(required=False)
        layout_template = serializers.IntegerField(required=False)
        readouts = serializers.ListField(child=serializers.FileField(), allow_empty=False)
        plate_format = serializers.ChoiceField(choices=[96, 384], default=384)
        save_template_as = serializers.CharField(required=False, allow_blank=True, default="")

    class PlateUploadOutput(serializers.Serializer):
        upload = serializers.IntegerField()
        run = serializers.IntegerField()
        plates = serializers.ListField(child=serializers.CharField())

    serializer_class = PlateUploadInput
    parser_classes = [MultiPartParser]

    @extend_schema(
        request={"multipart/form-data": PlateUploadInput}, responses={202: PlateUploadOutput}
    )
    def post(self, request, request_id: int):
        screening_request = _request(request, request_id, "api:screening_plates")
        data = _valid(self.PlateUploadInput, request)
        template = None
        if data.get("layout_template"):
            template = (
                selectors.layout_templates(screening_request.lab_id)
                .filter(pk=data["layout_template"])
                .first()
            )
            if template is None:
                raise serializers.ValidationError(
                    {"layout_template": "No such layout in the lab's templates."}
                )
        layout = (data["layout"].name, data["layout"].read()) if data.get("layout") else None
        upload = services.plate_upload(
            screening_request=screening_request,
            by=request.user,
            layout=layout,
            layout_template=template,
            plate_format=data["plate_format"],
            save_template_as=data["save_template_as"],
            readouts=[(f.name, f.read()) for f in data["readouts"]],
        )
        return Response(
            {
                "upload": upload.pk,
                "run": upload.runs.get().pk,
                "plates": list(upload.plates.values_list("name", flat=True)),
            },
            status=status.HTTP_202_ACCEPTED,
        )


class PlateOverrideApi(ScreeningApi):
    """Score a plate that failed QC anyway, with the scientist's reason (docs/drug-sensitivity.md
    §4). Only the lab's scientists; 202: the analysis runs again in the background."""

    class OverrideInput(serializers.Serializer):
        reason = serializers.CharField()

    serializer_class = OverrideInput

    @extend_schema(request=OverrideInput, responses={202: RunOutput})
    def post(self, request, plate_id: int):
        plate = selectors.plate_get(user=request.user, plate_id=plate_id)
        _log(request, [plate.upload.request.patient_id], "api:screening_plate_override")
        data = _valid(self.OverrideInput, request)
        run = services.plate_override(plate=plate, by=request.user, reason=data["reason"])
        return Response(RunOutput(run).data, status=status.HTTP_202_ACCEPTED)


class ReportOutput(serializers.ModelSerializer):
    register_number = serializers.CharField(source="request.patient.register_number")
    signed_by = serializers.CharField(source="signed_by.email", default=None)
    created_by = serializers.CharField(source="created_by.email")
    pdf = serializers.SerializerMethodField()

    class Meta:
        model = Report
        fields = [
            "id",
            "request",
            "register_number",
            "number",
            "status",
            "run",
            "interpretation",
            "top_drugs",
            "created_by",
            "created_at",
            "signed_by",
            "signed_at",
            "version",
            "pdf",
        ]

    def get_pdf(self, obj) -> str:
        return obj.get_absolute_url() + "pdf/"


class ReportDetailOutput(ReportOutput):
    top_ranked = serializers.SerializerMethodField()

    class Meta(ReportOutput.Meta):
        fields = ReportOutput.Meta.fields + ["top_ranked"]

    def get_top_ranked(self, obj) -> DrugResultOutput(many=True):  # type: ignore[valid-type]
        return DrugResultOutput(selectors.report_top_drugs(obj), many=True).data


class ReportListApi(ScreeningApi):
    """The request's tumour-board reports: every version for the lab, released ones for
    the patient's clinicians and coordinators. POST (the lab): write the draft, or start
    a new version after a release (a released report never changes); `version` is the
    version you loaded (a newer one is 409)."""

    class ReportInput(serializers.Serializer):
        interpretation = serializers.CharField(allow_blank=True)
        top_drugs = serializers.IntegerField(default=10)
        version = serializers.IntegerField(required=False, allow_null=True)

    serializer_class = ReportOutput
    queryset = Report.objects.none()

    @extend_schema(responses=ReportOutput(many=True))
    def get(self, request, request_id: int):
        screening_request = _request(request, request_id, "api:screening_reports")
        page = self.paginate_queryset(selectors.reports_for(request.user, screening_request))
        return self.get_paginated_response(ReportOutput(page, many=True).data)

    @extend_schema(request=ReportInput, responses={200: ReportDetailOutput})
    def post(self, request, request_id: int):
        screening_request = _request(request, request_id, "api:screening_reports")
        data = _valid(self.ReportInput, request)
        report = services.report_save(
            screening_request=screening_request,
            by=request.user,
            interpretation=data["interpretation"],
            top_drugs=data["top_drugs"],
            expected_version=data.get("version"),
        )
        return Response(
            ReportDetailOutput(selectors.report_get(user=request.user, report_id=report.pk)).data
        )


class ReportDetailApi(ScreeningApi):
    """One report version with its top-ranked drugs (fits and scores); the PDF is at `pdf`."""

    serializer_class = ReportDetailOutput
    queryset = Report.objects.none()

    def get(self, request, report_id: int):
        report = selectors.report_get(user=request.user, report_id=report_id)
        _log(request, [report.request.patient_id], "api:screening_report")
        return Response(ReportDetailOutput(report).data)


class ReportSignApi(ScreeningApi):
    """Sign and release the draft: the lab scientist re-enters the password. A wrong
    password is 400 and nothing is signed; a released report is 400 (start a new version)."""

    class SignInput(serializers.Serializer):
        password = serializers.CharField(style={"input_type": "password"}, trim_whitespace=False)
        version = serializers.IntegerField(required=False, allow_null=True)

    serializer_class = SignInput

    @extend_schema(request=SignInput, responses={200: ReportDetailOutput})
    def post(self, request, report_id: int):
        report = selectors.report_get(user=request.user, report_id=report_id)
        _log(request, [report.request.patient_id], "api:screening_report_sign")
        data = _valid(self.SignInput, request)
        services.report_sign(
            report=report,
            by=request.user,
            password=data["password"],
            expected_version=data.get("version"),
            http_request=request,
        )
        return Response(
            ReportDetailOutput(selectors.report_get(user=request.user, report_id=report_id)).data
        )
