"""Pages of the screening app. Thin: selectors decide who sees what (anything else is
404), services write and refuse; every page that shows a request writes the access log
with the patient's id and is never cached."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache

from consortium.filters import keyset_page_for, list_page_context, without_blanks
from consortium.forms import write_with_form
from consortium.services import patient_access_log
from registry import selectors as registry_selectors
from registry.models import TumourEpisode

from . import charts, labels, selectors, services, transport
from .filters import RequestFilter
from .forms import (
    HandOverForm,
    OverrideForm,
    PlateUploadForm,
    ReadingForm,
    ReceiptForm,
    ReportForm,
    RequestForm,
    SampleForm,
    ShipmentForm,
    SignForm,
    TransitionForm,
    UploadForm,
)
from .models import Shipment, State, Well


def _log(request, screening_request, page: str) -> None:
    patient_access_log(request, patient_ids=[screening_request.patient_id], page=page)


# --- Lists ------------------------------------------------------------------------------


@never_cache
@login_required
def request_list(request):
    selectors.require_viewer(request.user)
    filters = RequestFilter(
        without_blanks(request.GET), queryset=selectors.request_list(request.user), request=request
    )
    page, errors = keyset_page_for(request, filters, size=50)
    patient_access_log(
        request, patient_ids=[r.patient_id for r in page], page="screening:request_list"
    )
    return render(
        request,
        "screening/request_list.html",
        {
            **list_page_context(request, filters, page, errors),
            "is_lab": request.user.is_lab_scientist,
        },
        status=400 if errors else 200,
    )


@never_cache
@login_required
def lab_dashboard(request):
    if not request.user.is_lab_scientist:
        raise PermissionDenied("The lab dashboard is for lab scientists.")
    labs = selectors.user_lab_ids(request.user)
    now = timezone.now()
    board = selectors.lab_dashboard(labs=labs, now=now)
    shown = (
        [r.patient_id for r in board["waiting"]]
        + [s.sample.request.patient_id for s in board["in_transit"]]
        + [r.sample.request.patient_id for r in board["received"]]
    )
    patient_access_log(request, patient_ids=shown, page="screening:lab_dashboard")
    board["turnaround_text"] = {
        k: selectors.duration_text(v) for k, v in board["turnaround"].items()
    }
    return render(request, "screening/lab_dashboard.html", {**board, "now": now})


@login_required
def notifications(request):
    """Screening's notices are in the member's inbox now (one inbox for every app); the
    old address leads there."""
    return redirect("inbox")


# --- A request --------------------------------------------------------------------------


@never_cache
@login_required
def request_create(request, register_number: str):
    patient = registry_selectors.patient_get(user=request.user, register_number=register_number)
    patient_access_log(request, patient_ids=[patient.pk], page="screening:request_create")
    if not registry_selectors.can_edit_patient(request.user, patient):
        raise PermissionDenied("Only clinicians of the patient's institutions request a screen.")
    episodes = TumourEpisode.objects.filter(patient=patient)
    # A tumour board's decision opens this form prefilled (?episode=&indication=).
    chosen = (
        episodes.filter(pk=request.GET.get("episode")).first()
        if request.GET.get("episode", "").isdigit()
        else None
    )
    form = RequestForm(
        request.POST or None,
        episodes=episodes,
        initial={
            "surgery_hospital": registry_selectors.reporting_institution(request.user, patient),
            "episode": chosen or episodes.last(),
            "indication": request.GET.get("indication", "")[:2000],
        },
    )
    if request.method == "POST" and form.is_valid():
        created = write_with_form(
            request,
            form,
            lambda: services.request_create(by=request.user, **form.cleaned_data),
            "Screening requested; the lab has been notified.",
        )
        if created:
            return redirect(created)
    return render(request, "screening/request_form.html", {"form": form, "patient": patient})


@never_cache
@login_required
def request_detail(request, request_id: int):
    screening_request = selectors.request_get(user=request.user, request_id=request_id)
    _log(request, screening_request, "screening:request")
    form = TransitionForm(request.POST or None, initial={"version": screening_request.version})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        moved = write_with_form(
            request,
            form,
            lambda: services.request_transition(
                screening_request=screening_request,
                to=data["state"],
                by=request.user,
                note=data["note"],
                expected_sample_date=data["expected_sample_date"],
                expected_version=data["version"],
            ),
            f"The request is now {State(data['state']).label.lower()}.",
        )
        if moved:
            return redirect(screening_request)
    return render(
        request, "screening/request_detail.html", _request_context(request, screening_request, form)
    )


def _request_context(request, screening_request, form) -> dict:
    user = request.user
    samples = selectors.request_samples(screening_request)
    events = list(screening_request.transitions.select_related("by"))
    is_lab = selectors.is_lab_scientist_of(user, screening_request.lab_id)
    is_sender = registry_selectors.can_edit_patient(user, screening_request.patient)
    moves = [
        (state, State(state).label, part)
        for state, part in services.moves_for(user, screening_request)
    ]
    current = samples[-1] if samples else None
    return {
        "req": screening_request,
        "form": form,
        "samples": samples,
        "current": current,
        "timeline": selectors.request_timeline(screening_request, samples, events),
        "moves": moves,
        "is_lab": is_lab,
        "is_sender": is_sender,
        "can_register_sample": is_sender
        and State.SAMPLE_COLLECTED in services.TRANSITIONS[screening_request.state],
        "can_ship": is_sender and screening_request.state == State.SAMPLE_COLLECTED,
        "can_receive": is_lab and screening_request.state == State.IN_TRANSIT,
        "allowed": [State(s).label for s in services.TRANSITIONS[screening_request.state]],
    }


@never_cache
@login_required
def sample_create(request, request_id: int):
    screening_request = selectors.request_get(user=request.user, request_id=request_id)
    _log(request, screening_request, "screening:sample_create")
    if not registry_selectors.can_edit_patient(request.user, screening_request.patient):
        raise PermissionDenied("Only clinicians of the patient's institutions register the sample.")
    form = SampleForm(request.POST or None, initial={"version": screening_request.version})
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        version = data.pop("version")
        sample = write_with_form(
            request,
            form,
            lambda: services.sample_register(
                screening_request=screening_request,
                by=request.user,
                expected_version=version,
                **data,
            ),
            "Sample registered.",
        )
        if sample:
            return redirect(screening_request)
    return render(request, "screening/sample_form.html", {"form": form, "req": screening_request})


@never_cache
@login_required
def sample_label(request, sample_id: int):
    sample = selectors.sample_get(user=request.user, sample_id=sample_id)
    _log(request, sample.request, "screening:sample_label")
    text = labels.label_text(
        register_number=sample.request.patient.register_number, label_id=sample.label_id
    )
    bars, modules = labels.code128_bars(text)
    return render(
        request,
        "screening/sample_label.html",
        {"sample": sample, "text": text, "bars": bars, "modules": modules},
    )


@never_cache
@login_required
def shipment_create(request, sample_id: int):
    sample = selectors.sample_get(user=request.user, sample_id=sample_id)
    screening_request = sample.request
    _log(request, screening_request, "screening:shipment_create")
    if not registry_selectors.can_edit_patient(request.user, screening_request.patient):
        raise PermissionDenied("Only clinicians of the patient's institutions dispatch the sample.")
    form = ShipmentForm(
        request.POST or None,
        initial={"version": screening_request.version, "packaging": Shipment.Packaging.COLD},
    )
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        version = data.pop("version")
        shipment = write_with_form(
            request,
            form,
            lambda: services.shipment_dispatch(
                sample=sample, by=request.user, expected_version=version, **data
            ),
            "Shipment dispatched.",
        )
        if shipment:
            return redirect(shipment)
    return render(
        request,
        "screening/shipment_form.html",
        {"form": form, "req": screening_request, "sample": sample},
    )


@never_cache
@login_required
def shipment_detail(request, shipment_id: int):
    """The shipment: clock against the window, temperature trace, hand-overs; the forms
    to add a hand-over, a reading or a logger file post here (`action`)."""
    shipment = selectors.shipment_get(user=request.user, shipment_id=shipment_id)
    screening_request = shipment.sample.request
    _log(request, screening_request, "screening:shipment")
    action = request.POST.get("action") if request.method == "POST" else None
    forms = {
        "handover": HandOverForm(request.POST if action == "handover" else None),
        "reading": ReadingForm(request.POST if action == "reading" else None),
        "upload": UploadForm(
            request.POST if action == "upload" else None,
            request.FILES if action == "upload" else None,
        ),
    }
    if action in forms and forms[action].is_valid():
        form, data = forms[action], forms[action].cleaned_data
        writes = {
            "handover": lambda: services.handover_add(shipment=shipment, by=request.user, **data),
            "reading": lambda: services.reading_add(shipment=shipment, by=request.user, **data),
            "upload": lambda: services.logger_upload(
                shipment=shipment,
                by=request.user,
                content=data["file"].read(),
                filename=data["file"].name,
                time_zone=data["time_zone"],
            ),
        }
        done = {
            "handover": "Hand-over recorded.",
            "reading": "Reading recorded.",
            "upload": "Logger file added.",
        }
        if write_with_form(request, form, writes[action], done[action]):
            return redirect(shipment)
    elif action and action not in forms:
        raise PermissionDenied("Unknown action.")
    readings = selectors.readings_for(shipment)
    status = transport.shipment_status(shipment, readings=readings)
    handovers = list(shipment.handovers.select_related("entered_by"))
    return render(
        request,
        "screening/shipment_detail.html",
        {
            "shipment": shipment,
            "sample": shipment.sample,
            "req": screening_request,
            "status": status,
            "readings": readings,
            "chart": charts.temperature_chart(shipment, readings),
            "handovers": handovers,
            "gaps": transport.custody_gaps(handovers, received=hasattr(shipment.sample, "receipt")),
            "uploads": list(shipment.uploads.all()),
            "alerts": list(shipment.alerts.all()),
            **forms,
            "can_enter": (
                registry_selectors.can_edit_patient(request.user, screening_request.patient)
                or selectors.is_lab_scientist_of(request.user, screening_request.lab_id)
            ),
            "can_receive": (
                selectors.is_lab_scientist_of(request.user, screening_request.lab_id)
                and screening_request.state == State.IN_TRANSIT
            ),
        },
    )


@never_cache
@login_required
def receipt_create(request, sample_id: int):
    sample = selectors.sample_get(user=request.user, sample_id=sample_id)
    screening_request = sample.request
    _log(request, screening_request, "screening:receipt")
    if not selectors.is_lab_scientist_of(request.user, screening_request.lab_id):
        raise PermissionDenied(
            f"Only scientists of {screening_request.lab.code} record the receipt."
        )
    form = ReceiptForm(
        request.POST or None,
        initial={
            "version": screening_request.version,
            "arrived_at": timezone.localtime().replace(second=0, microsecond=0),
        },
    )
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        version, decision = data.pop("version"), data.pop("decision")
        receipt = write_with_form(
            request,
            form,
            lambda: services.receipt_record(
                sample=sample,
                by=request.user,
                accepted=decision == "accept",
                expected_version=version,
                **data,
            ),
            "Receipt recorded.",
        )
        if receipt:
            return redirect(screening_request)
    return render(
        request,
        "screening/receipt_form.html",
        {"form": form, "req": screening_request, "sample": sample},
    )


# --- Plate results --------------------------------------------------------------------------------


@never_cache
@login_required
def plate_upload(request, request_id: int):
    screening_request = selectors.request_get(user=request.user, request_id=request_id)
    _log(request, screening_request, "screening:plate_upload")
    selectors.require_lab(request.user, screening_request)
    form = PlateUploadForm(
        request.POST or None, request.FILES or None, lab_id=screening_request.lab_id
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        layout = (data["layout"].name, data["layout"].read()) if data["layout"] else None
        uploaded = write_with_form(
            request,
            form,
            lambda: services.plate_upload(
                screening_request=screening_request,
                by=request.user,
                layout=layout,
                layout_template=data["layout_template"],
                plate_format=data["plate_format"],
                save_template_as=data["save_template_as"],
                readouts=[(f.name, f.read()) for f in data["readouts"]],
            ),
            "Plates uploaded; the analysis is running.",
        )
        if uploaded:
            return redirect("screening:results", request_id=screening_request.pk)
    return render(request, "screening/plate_upload.html", {"req": screening_request, "form": form})


@never_cache
@login_required
def results(request, request_id: int):
    """Progress, then QC and the ranked drugs. The lab sees its newest run; the patient's
    clinicians see the run of the newest released report (numbers become clinical when
    signed)."""
    screening_request = selectors.request_get(user=request.user, request_id=request_id)
    _log(request, screening_request, "screening:results")
    is_lab = selectors.sees_lab_results(request.user, screening_request)
    run = selectors.visible_run(request.user, screening_request)
    context = {
        "req": screening_request,
        "run": run,
        "is_lab": is_lab,
        "reports": selectors.released_reports(screening_request),
    }
    if run is not None and run.status == "done":
        drug_class = request.GET.get("class", "")
        ranked = selectors.ranked_results(run, drug_class=drug_class)
        threshold = run.thresholds.get("dss_threshold", 10.0)
        plates = selectors.run_plates(run)
        wells = {}
        for well in Well.objects.filter(plate__in=plates).order_by("row", "column"):
            wells.setdefault(well.plate_id, []).append(well)
        context.update(
            {
                "curves": selectors.curves(ranked, threshold),
                "drug_class": drug_class,
                "classes": sorted({r.drug_class for r in run.results.all() if r.drug_class}),
                "plates": [(p, charts.heat_map(p, wells.get(p.pk, []))) for p in plates],
                "plates_only": plates,
                "override_form": OverrideForm(),
                "threshold": threshold,
            }
        )
    return render(request, "screening/results.html", context)


@never_cache
@login_required
def plate_override(request, plate_id: int):
    plate = selectors.plate_get(user=request.user, plate_id=plate_id)
    screening_request = plate.upload.request
    _log(request, screening_request, "screening:plate_override")
    selectors.require_lab(request.user, screening_request)
    form = OverrideForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        done = write_with_form(
            request,
            form,
            lambda: services.plate_override(
                plate=plate, by=request.user, reason=form.cleaned_data["reason"]
            ),
            f"Plate {plate.name} will be scored; the analysis is running again.",
        )
        if done:
            return redirect("screening:results", request_id=screening_request.pk)
        for error in form.non_field_errors():
            messages.error(request, error)
    return redirect("screening:results", request_id=screening_request.pk)


@never_cache
@login_required
def report_edit(request, request_id: int):
    """The lab writes the draft and signs it with its password; after a release the next
    save starts a new version."""
    screening_request = selectors.request_get(user=request.user, request_id=request_id)
    _log(request, screening_request, "screening:report_edit")
    selectors.require_lab(request.user, screening_request)
    latest = screening_request.reports.order_by("-number").first()
    draft = latest if latest and latest.status == "draft" else None
    form = ReportForm(
        request.POST if request.POST.get("action") == "save" else None,
        initial={
            "interpretation": (draft or latest).interpretation if latest else "",
            "top_drugs": (draft or latest).top_drugs if latest else 10,
            "version": latest.version if latest else None,
        },
    )
    sign_form = SignForm(
        request.POST if request.POST.get("action") == "sign" else None,
        initial={"version": draft.version if draft else None},
    )
    if request.method == "POST" and form.is_bound and form.is_valid():
        data = form.cleaned_data
        saved = write_with_form(
            request,
            form,
            lambda: services.report_save(
                screening_request=screening_request,
                by=request.user,
                interpretation=data["interpretation"],
                top_drugs=data["top_drugs"],
                expected_version=data["version"],
            ),
            "Draft saved.",
        )
        if saved:
            return redirect("screening:report_edit", request_id=screening_request.pk)
    if request.method == "POST" and sign_form.is_bound and sign_form.is_valid() and draft:
        signed = write_with_form(
            request,
            sign_form,
            lambda: services.report_sign(
                report=draft,
                by=request.user,
                password=sign_form.cleaned_data["password"],
                expected_version=sign_form.cleaned_data["version"],
                http_request=request,
            ),
            f"Report version {draft.number} signed and released.",
        )
        if signed:
            return redirect(signed)
    context = {
        "req": screening_request,
        "form": form,
        "sign_form": sign_form,
        "draft": draft,
        "latest": latest,
    }
    if draft:
        context.update(selectors.report_context(draft))
    return render(request, "screening/report_edit.html", context)


@never_cache
@login_required
def report_detail(request, report_id: int):
    report = selectors.report_get(user=request.user, report_id=report_id)
    _log(request, report.request, "screening:report")
    return render(request, "screening/report.html", selectors.report_context(report, frozen=True))


@never_cache
@login_required
def report_pdf(request, report_id: int):
    from .report_pdf import render_pdf  # reportlab loads only when a PDF is asked for

    report = selectors.report_get(user=request.user, report_id=report_id)
    _log(request, report.request, "screening:report_pdf")
    # A released report is the PDF made when it was signed, byte for byte.
    pdf = bytes(report.pdf) if report.pdf else render_pdf(selectors.report_context(report))
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = (
        f'inline; filename="screening-report-{report.request.patient.register_number}'
        f'-v{report.number}.pdf"'
    )
    return response
