"""python manage.py load_demo_trials [--path DIR]: demo trials for `make run`.

Imports the brain-tumour records among the real ClinicalTrials.gov records in
trials/demo_data/ctgov/ (ctgov.is_brain_tumour), encodes structured criteria for some
and adds one hand-made Nordic trial with a Norwegian site, so the demo patients
(create_demo_data) get matches; then runs a full match.
Criteria a coordinator already encoded are left alone, so it is safe to run twice.
Development only (DJANGO_DEBUG=1), after load_demo (the demo coordinator encodes)."""

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from consortium.models import User
from trials import ctgov, engine, services
from trials.models import Trial, TrialSite

# The repository's copy of the public records (its README names their sources); the tests
# import the same folder.
CTGOV = Path(__file__).resolve().parents[2] / "demo_data" / "ctgov"
ADULT_GLIOMAS = [
    "astrocytoma_idh_mutant",
    "oligodendroglioma_idh_mutant_codeleted",
    "glioblastoma_idh_wildtype",
]


def _tree(*criteria, by_hand=()):
    return {"version": 1, "criteria": {"all": list(criteria)}, "check_by_hand": list(by_hand)}


# Encoded as a coordinator would from each record's eligibility text: what the register
# holds is encoded, the rest is left to check by hand, so no demo patient is "eligible"
# before someone has checked it.
DEMO_CRITERIA = {
    # CHROME: chlorophyllin for radionecrosis in diffuse glioma (18-70 years; one site, in
    # Mumbai). Radionecrosis itself, and telling it from progression, are imaging reads the
    # register does not hold: checked by hand. A recorded progression excludes ("Disease
    # progression"), as does prior bevacizumab; KPS >= 50.
    "NCT06016452": _tree(
        {"type": "diagnosis", "codes": ADULT_GLIOMAS},
        {"type": "age", "min_years": 18, "max_years": 70},
        {"type": "setting", "setting": "newly_diagnosed"},
        {"type": "performance", "scale": "karnofsky", "min": 50, "max": None},
        {"not": {"type": "prior_treatment", "regimen": "bevacizumab"}},
        {"type": "prior_treatment", "regimen": "radiotherapy"},  # radionecrosis follows it
        by_hand=[
            "Radionecrosis on MRI (perfusion or spectroscopy), not indeterminate versus "
            "progression",
            "No disease progression on the latest imaging",
            "Not a brainstem glioma",
            "No contraindication to corticosteroids",
        ],
    ),
    # CHARM: newly diagnosed H3 K27-altered diffuse midline glioma, 3 to under 18 years.
    "NCT06720727": _tree(
        {"type": "diagnosis", "codes": ["diffuse_midline_glioma_h3k27"]},
        {"type": "marker", "marker": "h3k27", "result": "altered"},
        {"type": "age", "min_years": 3, "max_years": 17},
        {"type": "setting", "setting": "newly_diagnosed"},
        {"type": "performance", "scale": "karnofsky", "min": 70, "max": None},
        {"not": {"type": "prior_treatment", "regimen": "radiotherapy"}},
        by_hand=[
            "Lansky ≥ 70 under 16 years",
            "No prior therapy except debulking surgery or biopsy",
            "No inherited cancer predisposition (e.g. CMMRD) and no previous malignancy",
        ],
    ),
    # LIBRA: levetiracetam monotherapy for seizures, any primary brain tumour, adults.
    "NCT06442748": _tree(
        {"type": "age", "min_years": 18, "max_years": None},
        {"type": "performance", "scale": "karnofsky", "min": 50, "max": None},
        {"type": "setting", "setting": "newly_diagnosed"},
        by_hand=[
            "History of seizures, controlled on levetiracetam monotherapy for 6 months",
            "Supratentorial tumour; index surgery within the last year",
            "No progressive disease",
        ],
    ),
}
NORDIC = _tree(
    {"type": "diagnosis", "codes": ["glioblastoma_idh_wildtype"]},
    {"type": "marker", "marker": "mgmt", "result": "altered"},
    {"type": "setting", "setting": "recurrent", "min_progressions": 1, "max_progressions": 1},
    {"type": "performance", "scale": "ecog", "min": None, "max": 1},
    {"not": {"type": "prior_treatment", "regimen": "bevacizumab"}},
    {"type": "age", "min_years": 18, "max_years": None},
    by_hand=["Measurable disease by RANO", "Adequate bone marrow, liver and kidney function"],
)


class Command(BaseCommand):
    help = "Import the demo trials and encode criteria for a few (development only)."

    def add_arguments(self, parser):
        parser.add_argument("--path", default=str(CTGOV))

    def handle(self, *args, path, **options):
        if not settings.DEBUG:
            raise CommandError("load_demo_trials runs only with DJANGO_DEBUG=1.")
        coordinator = User.objects.filter(email="coordinator@demo.nbtc.no").first()
        if coordinator is None:
            raise CommandError("Run load_demo first: the demo coordinator encodes the criteria.")
        if not Path(path).exists():
            raise CommandError(f"--path {path}: no such file or folder.")
        # Only brain-tumour trials: the folder also holds other cancers' records (kept for
        # the importer's tests).
        report = services.trials_import_paths(
            paths=[path], by=coordinator, only=ctgov.is_brain_tumour
        )
        for line in report.lines()[:1]:
            self.stdout.write(f"Demo trials: {line}")
        nordic = Trial.objects.filter(
            source=Trial.Source.MANUAL, brief_title__startswith="NOR-REGBM"
        ).first()
        if nordic is None:
            nordic = services.trial_create(
                by=coordinator,
                brief_title="NOR-REGBM: a Nordic trial in first recurrence of MGMT-methylated "
                "glioblastoma (demo)",
                acronym="NOR-REGBM",
                overall_status="RECRUITING",
                phases=["PHASE2"],
                conditions=["Glioblastoma, IDH-wildtype"],
                sponsor="Oslo universitetssykehus (demo)",
                minimum_age="18 Years",
                eligibility_text="Inclusion Criteria:\n\n* First recurrence of IDH-wildtype "
                "glioblastoma\n* MGMT promoter methylated\n* ECOG 0-1\n\nExclusion Criteria:\n\n* "
                "Prior bevacizumab",
            )
            TrialSite.objects.create(
                trial=nordic,
                facility="Oslo universitetssykehus",
                city="Oslo",
                country="Norway",
                status="RECRUITING",
                is_norwegian=True,
            )
            Trial.objects.filter(pk=nordic.pk).update(has_norwegian_site=True, has_nordic_site=True)
            nordic.refresh_from_db()
        plan = {**{t.nct_id: t for t in Trial.objects.filter(nct_id__in=DEMO_CRITERIA)}}
        for nct_id, tree in DEMO_CRITERIA.items():
            trial = plan.get(nct_id)
            if trial and not trial.criteria_encoded_at:
                services.trial_criteria_save(
                    trial=trial, by=coordinator, tree=tree, expected_version=trial.version
                )
        if not nordic.criteria_encoded_at:
            services.trial_criteria_save(
                trial=nordic, by=coordinator, tree=NORDIC, expected_version=nordic.version
            )
        result = engine.match_all()
        self.stdout.write(f"Demo matching: {result.created} new matches, {result.updated} updated.")
