"""Lab automation: upload a layout and readouts for a request, as the browser and the API do.

    python manage.py import_plates --request 42 --by lab@uib.no LAYOUT.csv READOUT.csv \
        [READOUT2.csv ...]
    python manage.py import_plates --request 42 --by lab@uib.no --template "FIMM 384" READOUT.csv

Whole or not at all (a bad line is named and nothing is stored). The analysis runs in
the Celery worker; --wait runs it here instead (for a machine without a worker)."""

from pathlib import Path

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError

from consortium.models import User
from screening import services
from screening.models import AnalysisRun, PlateLayoutTemplate, ScreeningRequest


class Command(BaseCommand):
    help = "Upload a plate layout and readouts for a screening request (lab automation)."

    def add_arguments(self, parser):
        parser.add_argument("--request", type=int, required=True, help="the screening request's id")
        parser.add_argument("--by", required=True, help="e-mail of the lab scientist uploading")
        parser.add_argument(
            "--template", default="", help="a saved layout of the lab instead of a layout file"
        )
        parser.add_argument("--plate-format", type=int, choices=[96, 384], default=384)
        parser.add_argument("--save-template-as", default="")
        parser.add_argument(
            "--wait", action="store_true", help="run the analysis here and print a summary"
        )
        parser.add_argument(
            "files", nargs="+", help="LAYOUT READOUT... (or only READOUT... with --template)"
        )

    def handle(
        self, *args, request, by, template, plate_format, save_template_as, wait, files, **options
    ):
        try:
            user = User.objects.get(email=by, is_active=True)
            screening_request = ScreeningRequest.objects.select_related("lab", "patient").get(
                pk=request
            )
        except (User.DoesNotExist, ScreeningRequest.DoesNotExist) as error:
            raise CommandError(str(error)) from None
        paths = [Path(f) for f in files]
        missing = [str(p) for p in paths if not p.is_file()]
        if missing:
            raise CommandError(f"No such file: {', '.join(missing)}")
        layout_template = None
        if template:
            layout_template = PlateLayoutTemplate.objects.filter(
                lab=screening_request.lab, name=template
            ).first()
            if layout_template is None:
                raise CommandError(f"The lab has no saved layout named '{template}'.")
            layout, readouts = None, paths
        else:
            if len(paths) < 2:
                raise CommandError("Give the layout file and at least one readout file.")
            layout, readouts = (paths[0].name, paths[0].read_bytes()), paths[1:]
        try:
            upload = services.plate_upload(
                screening_request=screening_request,
                by=user,
                layout=layout,
                layout_template=layout_template,
                plate_format=plate_format,
                save_template_as=save_template_as,
                readouts=[(p.name, p.read_bytes()) for p in readouts],
            )
        except (ValidationError, PermissionDenied) as error:
            messages = error.message_dict if hasattr(error, "message_dict") else {"": [str(error)]}
            raise CommandError(
                "Refused, nothing stored: "
                + " ".join(
                    f"{field}: {m}" if field else m for field, ms in messages.items() for m in ms
                )
            ) from None
        run = AnalysisRun.objects.get(upload=upload)
        self.stdout.write(
            f"Upload {upload.pk}: plates "
            f"{', '.join(upload.plates.values_list('name', flat=True))}; "
            f"analysis run {run.pk} queued."
        )
        if wait:
            run = services.analysis_run(run_id=run.pk)
            for plate in upload.plates.all():
                self.stdout.write(
                    f"Plate {plate.name}: QC {plate.qc_status}, Z' {plate.z_prime:.2f}, "
                    f"|SSMD| {plate.ssmd:.1f}"
                )
            self.stdout.write(
                f"{run.results.count()} drugs fitted and scored in {run.seconds:.2f} s."
            )
