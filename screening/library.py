"""The configuration a fresh installation starts with: sample types and each seeded
lab's drug library and standard panels. Seeded by migration 0002 (and again by tests
after a flush); labs edit them in the admin site afterwards.

Sample types (docs/drug-sensitivity.md §2): fresh tumour tissue travels cold at 2–8 °C and should
arrive the same day, labs commonly allowing 24 h from collection; warn at 75 % of the
window. The reference gives no window for a cell suspension or a cryopreserved
established culture, so these are our choices, to be confirmed by the labs: a cell
suspension in medium at 2–8 °C for 24 h (as fresh tissue: the cells are as fragile);
an established culture cryopreserved (10 % DMSO) on dry ice at about -78 °C, allowed
-90 to -60 °C, for 72 h (what a dry-ice box holds when packed for a domestic courier)."""

SAMPLE_TYPES = [
    {
        "code": "fresh_tissue",
        "name": "Fresh tumour tissue",
        "viability_hours": 24,
        "min_celsius": 2,
        "max_celsius": 8,
        "warning_percent": 75,
        "transport_note": "Sterile tube in transport medium (e.g. Hibernate-A) on wet ice "
        "or cold packs; never frozen.",
    },
    {
        "code": "cell_suspension",
        "name": "Cell suspension",
        "viability_hours": 24,
        "min_celsius": 2,
        "max_celsius": 8,
        "warning_percent": 75,
        "transport_note": "Dissociated cells in medium, cold; never frozen.",
    },
    {
        "code": "established_culture",
        "name": "Established culture (cryopreserved)",
        "viability_hours": 72,
        "min_celsius": -90,
        "max_celsius": -60,
        "warning_percent": 75,
        "transport_note": "Cryovials with about 10 % DMSO on dry ice (UN1845).",
    },
]

# A plausible glioma-oriented library (Skaga 2019 screened 461-525 approved and
# investigational drugs; a demo needs a few dozen): name, class, approved.
DRUGS = [
    ("Temozolomide", "Alkylating agent", True),
    ("Lomustine", "Alkylating agent (nitrosourea)", True),
    ("Carmustine", "Alkylating agent (nitrosourea)", True),
    ("Procarbazine", "Alkylating agent", True),
    ("Vincristine", "Microtubule inhibitor", True),
    ("Irinotecan", "Topoisomerase I inhibitor", True),
    ("Etoposide", "Topoisomerase II inhibitor", True),
    ("Carboplatin", "Platinum compound", True),
    ("Bortezomib", "Proteasome inhibitor", True),
    ("Marizomib", "Proteasome inhibitor", False),
    ("Panobinostat", "HDAC inhibitor", True),
    ("Vorinostat", "HDAC inhibitor", True),
    ("Dasatinib", "SRC/ABL kinase inhibitor", True),
    ("Regorafenib", "Multikinase inhibitor", True),
    ("Everolimus", "mTOR inhibitor", True),
    ("Abemaciclib", "CDK4/6 inhibitor", True),
    ("Palbociclib", "CDK4/6 inhibitor", True),
    ("Dabrafenib", "BRAF inhibitor", True),
    ("Trametinib", "MEK inhibitor", True),
    ("Vorasidenib", "IDH1/2 inhibitor", True),
    ("Olaparib", "PARP inhibitor", True),
    ("Selinexor", "XPO1 inhibitor", True),
    ("Disulfiram", "ALDH inhibitor (repurposed)", True),
    ("Ponatinib", "Multikinase inhibitor", True),
    ("Afatinib", "EGFR inhibitor", True),
    ("Osimertinib", "EGFR inhibitor", True),
    ("Navitoclax", "BCL-2/BCL-xL inhibitor", False),
    ("Venetoclax", "BCL-2 inhibitor", True),
    ("ONC201", "DRD2 antagonist / ClpP agonist", False),
    ("Birinapant", "SMAC mimetic", False),
]

PANELS = [
    (
        "Glioma standard of care",
        "Guideline chemotherapy for comparison.",
        [
            "Temozolomide",
            "Lomustine",
            "Carmustine",
            "Procarbazine",
            "Vincristine",
            "Irinotecan",
            "Etoposide",
            "Carboplatin",
        ],
    ),
    (
        "Recurrent glioblastoma, targeted",
        "Approved and investigational targeted drugs.",
        [
            "Bortezomib",
            "Marizomib",
            "Panobinostat",
            "Dasatinib",
            "Regorafenib",
            "Everolimus",
            "Abemaciclib",
            "Dabrafenib",
            "Trametinib",
            "Olaparib",
            "Selinexor",
            "Ponatinib",
            "Afatinib",
            "Venetoclax",
            "ONC201",
        ],
    ),
    ("Full library", "Every drug of the lab's library.", [name for name, _, _ in DRUGS]),
]

LAB_CODES = ["UIB-LAB", "UIO-LAB", "NTNU-LAB", "UIT-LAB"]


def seed(apps, schema_editor=None) -> None:
    """Idempotent: adds what is missing, changes nothing that exists."""
    SampleType = apps.get_model("screening", "SampleType")
    Drug = apps.get_model("screening", "Drug")
    DrugPanel = apps.get_model("screening", "DrugPanel")
    Institution = apps.get_model("consortium", "Institution")
    for values in SAMPLE_TYPES:
        SampleType.objects.get_or_create(code=values["code"], defaults=values)
    for lab in Institution.objects.filter(code__in=LAB_CODES):
        drugs = {}
        for name, drug_class, approved in DRUGS:
            drugs[name], _ = Drug.objects.get_or_create(
                lab=lab, name=name, defaults={"drug_class": drug_class, "approved": approved}
            )
        for name, description, members in PANELS:
            panel, created = DrugPanel.objects.get_or_create(
                lab=lab, name=name, defaults={"description": description}
            )
            if created:
                panel.drugs.set([drugs[m] for m in members])
