"""Reading ClinicalTrials.gov records: API v2 study JSON (docs/trials-matching.md §3)
into the fields the catalogue keeps, and the documents that hold them (one study, a
list, an API page {"studies": [...], "nextPageToken"}). The retired formats (the classic
API's FullStudiesResponse and the XML download, retired 2024-06-25; docs/trials-matching.md
§3) are refused with a message saying what to do instead."""

import json
import re
from datetime import date
from pathlib import Path

from consortium import uploads

NORWAY = "Norway"
NORDIC_COUNTRIES = ("Norway", "Sweden", "Denmark", "Finland", "Iceland")


class UnreadableRecord(ValueError):
    """A record the importer cannot use; the message says why."""


def documents_in(path: Path):
    """(file name, parsed JSON) for a file, or for every file of a folder (sorted)."""
    files = (
        sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in (".json", ".xml"))
        if path.is_dir()
        else [path]
    )
    for file in files:
        if file.suffix.lower() == ".xml":
            yield (
                file.name,
                UnreadableRecord(
                    "ClinicalTrials.gov XML is the retired format (since 2024-06-25); "
                    "export the study as API v2 JSON or use import_trials --from-api."
                ),
            )
            continue
        size = file.stat().st_size
        if size > uploads.TRIALS_FILE_MAX_BYTES:
            yield (
                file.name,
                UnreadableRecord(
                    f"{uploads.human_size(size)} is over the limit of "
                    f"{uploads.human_size(uploads.TRIALS_FILE_MAX_BYTES)} for one file"
                ),
            )
            continue
        try:
            yield file.name, json.loads(file.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            yield file.name, UnreadableRecord(f"not JSON ({error})")


def studies_in(document) -> list:
    """The study records a document holds; an UnreadableRecord for a retired format."""
    if isinstance(document, UnreadableRecord):
        return [document]
    if isinstance(document, list):
        return document
    if isinstance(document, dict) and "FullStudiesResponse" in document:
        studies = document["FullStudiesResponse"].get("FullStudies") or []
        return [
            UnreadableRecord(
                "the classic ClinicalTrials.gov API format (FullStudiesResponse), retired "
                "2024-06-25; fetch "
                f"{_classic_nct(s)} from API v2 instead (import_trials --from-api)."
            )
            for s in studies
        ] or [UnreadableRecord("classic API response with no studies")]
    if isinstance(document, dict) and "studies" in document:
        return document["studies"]
    return [document]


def _classic_nct(study) -> str:
    try:
        return study["Study"]["ProtocolSection"]["IdentificationModule"]["NCTId"]
    except (KeyError, TypeError):
        return "the study"


def nct_of(record) -> str:
    try:
        return record["protocolSection"]["identificationModule"]["nctId"]
    except (KeyError, TypeError):
        return ""


def _date(value: str | None) -> date | None:
    if not value:
        return None
    parts = [int(p) for p in value.split("-")]
    return date(parts[0], parts[1] if len(parts) > 1 else 1, parts[2] if len(parts) > 2 else 1)


AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s+(Year|Month|Week|Day)s?\s*$", re.I)


def age_in_years(text: str) -> float | None:
    """'18 Years' -> 18, '6 Months' -> 0.5; None for no limit."""
    m = AGE.match(text or "")
    if not m:
        return None
    # Kept precise enough that criteria.age_cutoffs recovers whole months and days.
    per_year = {"year": 1, "month": 12, "week": 365.25 / 7, "day": 365.25}[m.group(2).lower()]
    return round(float(m.group(1)) / per_year, 6)


def parse_study(record) -> dict:
    """The catalogue's fields of one API v2 record, with `warnings` naming what it lacks."""
    if not isinstance(record, dict) or "protocolSection" not in record:
        raise UnreadableRecord("not a ClinicalTrials.gov API v2 study (no protocolSection)")
    ps = record["protocolSection"]
    ident = ps.get("identificationModule") or {}
    nct = ident.get("nctId", "")
    if not re.fullmatch(r"NCT\d{8}", nct or ""):
        raise UnreadableRecord(f"no valid NCT id ({nct or 'missing'})")
    if not ident.get("briefTitle"):
        raise UnreadableRecord("no brief title")
    warnings = []
    status = ps.get("statusModule")
    if status is None:
        warnings.append(
            "no status module: overall status unknown, so the trial is not matched until it is set"
        )
        status = {}
    design = ps.get("designModule") or {}
    eligibility = ps.get("eligibilityModule") or {}
    if not eligibility.get("eligibilityCriteria"):
        warnings.append("no eligibility criteria text")
    arms_module = ps.get("armsInterventionsModule") or {}
    locations = (ps.get("contactsLocationsModule") or {}).get("locations")
    if locations is None:
        warnings.append("no locations: sites unknown")
    sites = [
        {
            "facility": (loc.get("facility") or "")[:300],
            "city": (loc.get("city") or "")[:100],
            "country": (loc.get("country") or "")[:100],
            "status": loc.get("status") or "",
            "is_norwegian": loc.get("country") == NORWAY,
        }
        for loc in locations or []
    ]
    return {
        "nct_id": nct,
        "fields": {
            "brief_title": ident["briefTitle"][:500],
            "official_title": ident.get("officialTitle", ""),
            "acronym": (ident.get("acronym") or "")[:100],
            "overall_status": status.get("overallStatus", "UNKNOWN"),
            "phases": design.get("phases") or [],
            "conditions": [
                c[:300] for c in (ps.get("conditionsModule") or {}).get("conditions", [])
            ],
            "eligibility_text": eligibility.get("eligibilityCriteria", ""),
            "minimum_age": eligibility.get("minimumAge", ""),
            "maximum_age": eligibility.get("maximumAge", ""),
            "sex": eligibility.get("sex", ""),
            "sponsor": ((ps.get("sponsorCollaboratorsModule") or {}).get("leadSponsor") or {}).get(
                "name", ""
            )[:300],
            "interventions": [
                {
                    "type": i.get("type", ""),
                    "name": i.get("name", ""),
                    "arm_group_labels": i.get("armGroupLabels", []),
                }
                for i in arms_module.get("interventions", [])
            ],
            "last_update": _date((status.get("lastUpdatePostDateStruct") or {}).get("date")),
            "has_norwegian_site": any(s["is_norwegian"] for s in sites),
            "has_nordic_site": any(s["country"] in NORDIC_COUNTRIES for s in sites),
            "import_warnings": warnings,
        },
        "sites": sites,
        "arms": [
            {
                "label": a["label"][:300],
                "arm_type": a.get("type", ""),
                "description": a.get("description", ""),
                "intervention_names": a.get("interventionNames", []),
            }
            for a in arms_module.get("armGroups", [])
            if a.get("label")
        ],
    }


# What makes a record a brain-tumour trial for the consortium: its conditions name a
# primary CNS tumour (WHO CNS5 families; ClinicalTrials.gov conditions are free text,
# https://clinicaltrials.gov/data-api/about-api/study-data-structure). Brain metastases
# of other cancers are not the register's tumours.
BRAIN_TUMOUR_WORDS = re.compile(
    r"glioma|glioblastoma|astrocytoma|oligodendroglioma|ependymoma|medulloblastoma|"
    r"meningioma|\bDIPG\b|diffuse intrinsic pontine|diffuse midline|brain tumou?r|"
    r"\bCNS tumou?r|central nervous system (tumou?r|neoplasm)|brain neoplasm|"
    r"primitive neuroectodermal|craniopharyngioma|germinoma|schwannoma|neurocytoma",
    re.IGNORECASE,
)


def is_brain_tumour(fields: dict) -> bool:
    return any(BRAIN_TUMOUR_WORDS.search(c) for c in fields.get("conditions", []))
