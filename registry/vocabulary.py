"""The register's controlled vocabularies: WHO CNS5 tumour types with their CNS WHO
grades and ICD-O-3 morphology codes, ICD-10 topography, molecular markers and the
treatment lists. Source for every code: docs/registry-rules.md §1 (WHO CNS5,
Louis et al. 2021; ICD-O-3 codes from the NAACCR v24 brain molecular markers document
and the ICD-O-3.2 term list; topography from WHO ICD-10 as Norway uses it)."""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class TumourType:
    code: str
    label: str
    family: str
    # CNS WHO grade -> ICD-O-3 morphology. A type without grades has {None: code}.
    morphology_by_grade: dict
    # Markers whose result a complete report needs for this type (docs/registry-rules.md §1 and the
    # Norwegian guideline's molecular workup, §2.1).
    required_markers: tuple = field(default=())

    @property
    def grades(self) -> list[int]:
        return sorted(g for g in self.morphology_by_grade if g is not None)

    def morphology(self, grade: int | None) -> str:
        if grade in self.morphology_by_grade:
            return self.morphology_by_grade[grade]
        if len(set(self.morphology_by_grade.values())) == 1:
            return next(iter(self.morphology_by_grade.values()))
        return ""


ADULT_DIFFUSE = "Adult-type diffuse gliomas"
PAEDIATRIC_HIGH = "Paediatric-type diffuse high-grade gliomas"
PAEDIATRIC_LOW = "Paediatric-type diffuse low-grade gliomas"
CIRCUMSCRIBED = "Circumscribed astrocytic gliomas"
GLIONEURONAL = "Glioneuronal and neuronal tumours"
EPENDYMAL = "Ependymal tumours"
EMBRYONAL = "Embryonal tumours"
PINEAL = "Pineal tumours"
MENINGIOMA = "Meningiomas"
NERVE = "Cranial and paraspinal nerve tumours"
OTHER = "Other CNS tumours"

ASTROCYTOMA_IDH_MUTANT = "astrocytoma_idh_mutant"
OLIGODENDROGLIOMA = "oligodendroglioma_idh_mutant_codeleted"
GLIOBLASTOMA_IDH_WILDTYPE = "glioblastoma_idh_wildtype"

TUMOUR_TYPES: dict[str, TumourType] = {
    t.code: t
    for t in [
        TumourType(
            ASTROCYTOMA_IDH_MUTANT,
            "Astrocytoma, IDH-mutant",
            ADULT_DIFFUSE,
            {2: "9400/3", 3: "9401/3", 4: "9445/3"},
            ("idh", "cdkn2ab", "atrx", "mgmt"),
        ),
        TumourType(
            OLIGODENDROGLIOMA,
            "Oligodendroglioma, IDH-mutant and 1p/19q-codeleted",
            ADULT_DIFFUSE,
            {2: "9450/3", 3: "9451/3"},
            ("idh", "codeletion_1p19q", "mgmt"),
        ),
        TumourType(
            GLIOBLASTOMA_IDH_WILDTYPE,
            "Glioblastoma, IDH-wildtype",
            ADULT_DIFFUSE,
            {4: "9440/3"},
            ("idh", "mgmt"),
        ),
        TumourType(
            "diffuse_midline_glioma_h3k27",
            "Diffuse midline glioma, H3 K27-altered",
            PAEDIATRIC_HIGH,
            {4: "9385/3"},
            ("h3k27",),
        ),
        TumourType(
            "diffuse_hemispheric_glioma_h3g34",
            "Diffuse hemispheric glioma, H3 G34-mutant",
            PAEDIATRIC_HIGH,
            {4: "9385/3"},
            ("h3g34",),
        ),
        TumourType(
            "paediatric_hgg_h3_idh_wildtype",
            "Diffuse paediatric-type high-grade glioma, H3-wildtype and IDH-wildtype",
            PAEDIATRIC_HIGH,
            {4: "9385/3"},
            ("idh", "h3k27", "h3g34"),
        ),
        TumourType(
            "infant_hemispheric_glioma",
            "Infant-type hemispheric glioma",
            PAEDIATRIC_HIGH,
            {4: "9385/3"},
        ),
        TumourType(
            "diffuse_astrocytoma_myb",
            "Diffuse astrocytoma, MYB- or MYBL1-altered",
            PAEDIATRIC_LOW,
            {1: "9421/1"},
        ),
        TumourType("angiocentric_glioma", "Angiocentric glioma", PAEDIATRIC_LOW, {1: "9431/1"}),
        TumourType(
            "plnty",
            "Polymorphous low-grade neuroepithelial tumour of the young",
            PAEDIATRIC_LOW,
            {1: "9413/0"},
        ),
        TumourType(
            "diffuse_lgg_mapk",
            "Diffuse low-grade glioma, MAPK pathway-altered",
            PAEDIATRIC_LOW,
            {None: "9421/1"},
            ("braf_v600e", "braf_fusion"),
        ),
        TumourType("pilocytic_astrocytoma", "Pilocytic astrocytoma", CIRCUMSCRIBED, {1: "9421/1"}),
        TumourType(
            "hgap", "High-grade astrocytoma with piloid features", CIRCUMSCRIBED, {None: "9421/3"}
        ),
        TumourType(
            "pxa",
            "Pleomorphic xanthoastrocytoma",
            CIRCUMSCRIBED,
            {2: "9424/3", 3: "9424/3"},
            ("braf_v600e",),
        ),
        TumourType("sega", "Subependymal giant cell astrocytoma", CIRCUMSCRIBED, {1: "9384/1"}),
        TumourType("chordoid_glioma", "Chordoid glioma", CIRCUMSCRIBED, {2: "9444/1"}),
        TumourType(
            "astroblastoma_mn1", "Astroblastoma, MN1-altered", CIRCUMSCRIBED, {None: "9430/3"}
        ),
        TumourType("ganglioglioma", "Ganglioglioma", GLIONEURONAL, {1: "9505/1"}, ("braf_v600e",)),
        TumourType("dnet", "Dysembryoplastic neuroepithelial tumour", GLIONEURONAL, {1: "9413/0"}),
        TumourType("central_neurocytoma", "Central neurocytoma", GLIONEURONAL, {2: "9506/1"}),
        TumourType(
            "papillary_glioneuronal", "Papillary glioneuronal tumour", GLIONEURONAL, {1: "9509/1"}
        ),
        TumourType(
            "ependymoma_zfta",
            "Supratentorial ependymoma, ZFTA fusion-positive",
            EPENDYMAL,
            {2: "9396/3", 3: "9396/3"},
        ),
        TumourType(
            "ependymoma_yap1",
            "Supratentorial ependymoma, YAP1 fusion-positive",
            EPENDYMAL,
            {2: "9396/3", 3: "9396/3"},
        ),
        TumourType(
            "ependymoma_pfa",
            "Posterior fossa group A (PFA) ependymoma",
            EPENDYMAL,
            {2: "9396/3", 3: "9396/3"},
        ),
        TumourType(
            "ependymoma_pfb",
            "Posterior fossa group B (PFB) ependymoma",
            EPENDYMAL,
            {2: "9396/3", 3: "9396/3"},
        ),
        TumourType(
            "ependymoma_spinal_mycn",
            "Spinal ependymoma, MYCN-amplified",
            EPENDYMAL,
            {None: "9396/3"},
        ),
        TumourType("ependymoma_nos", "Ependymoma, NOS", EPENDYMAL, {2: "9391/3", 3: "9391/3"}),
        TumourType(
            "myxopapillary_ependymoma", "Myxopapillary ependymoma", EPENDYMAL, {2: "9394/1"}
        ),
        TumourType("subependymoma", "Subependymoma", EPENDYMAL, {1: "9383/1"}),
        TumourType(
            "medulloblastoma_wnt", "Medulloblastoma, WNT-activated", EMBRYONAL, {4: "9475/3"}
        ),
        TumourType(
            "medulloblastoma_shh_tp53_wildtype",
            "Medulloblastoma, SHH-activated and TP53-wildtype",
            EMBRYONAL,
            {4: "9471/3"},
        ),
        TumourType(
            "medulloblastoma_shh_tp53_mutant",
            "Medulloblastoma, SHH-activated and TP53-mutant",
            EMBRYONAL,
            {4: "9476/3"},
        ),
        TumourType(
            "medulloblastoma_non_wnt_non_shh",
            "Medulloblastoma, non-WNT/non-SHH",
            EMBRYONAL,
            {4: "9477/3"},
        ),
        TumourType("medulloblastoma_nos", "Medulloblastoma, NOS", EMBRYONAL, {4: "9470/3"}),
        TumourType("atrt", "Atypical teratoid/rhabdoid tumour", EMBRYONAL, {4: "9508/3"}),
        TumourType("etmr", "Embryonal tumour with multilayered rosettes", EMBRYONAL, {4: "9478/3"}),
        TumourType(
            "cns_neuroblastoma_foxr2",
            "CNS neuroblastoma, FOXR2-activated",
            EMBRYONAL,
            {4: "9500/3"},
        ),
        TumourType(
            "cns_tumour_bcor_itd",
            "CNS tumour with BCOR internal tandem duplication",
            EMBRYONAL,
            {4: "9500/3"},
        ),
        TumourType("pineocytoma", "Pineocytoma", PINEAL, {1: "9361/1"}),
        TumourType("pineoblastoma", "Pineoblastoma", PINEAL, {4: "9362/3"}),
        TumourType("meningioma", "Meningioma", MENINGIOMA, {1: "9530/0", 2: "9539/1", 3: "9530/3"}),
        TumourType("schwannoma", "Schwannoma", NERVE, {1: "9560/0"}),
        TumourType("neurofibroma", "Neurofibroma", NERVE, {1: "9540/0"}),
        TumourType("mpnst", "Malignant peripheral nerve sheath tumour", NERVE, {None: "9540/3"}),
        TumourType("haemangioblastoma", "Haemangioblastoma", OTHER, {1: "9161/1"}),
        TumourType(
            "solitary_fibrous_tumour",
            "Solitary fibrous tumour",
            OTHER,
            {1: "8815/0", 2: "8815/1", 3: "8815/3"},
        ),
        TumourType("germinoma", "Germinoma", OTHER, {None: "9064/3"}),
        TumourType(
            "craniopharyngioma_adamantinomatous",
            "Adamantinomatous craniopharyngioma",
            OTHER,
            {1: "9351/1"},
        ),
        TumourType(
            "craniopharyngioma_papillary", "Papillary craniopharyngioma", OTHER, {1: "9352/1"}
        ),
        TumourType("chordoma", "Chordoma", OTHER, {None: "9370/3"}),
    ]
}


def tumour_type_choices() -> list:
    """Grouped choices for a <select>: [(family, [(code, label), ...]), ...]."""
    families: dict[str, list] = {}
    for t in TUMOUR_TYPES.values():
        families.setdefault(t.family, []).append((t.code, t.label))
    return list(families.items())


# ICD-10 topography, WHO ICD-10 as Norway uses it (D43.7, not ICD-10-CM's D43.8).
TOPOGRAPHY = {
    "C70.0": "Cerebral meninges",
    "C70.1": "Spinal meninges",
    "C70.9": "Meninges, unspecified",
    "C71.0": "Cerebrum, except lobes and ventricles",
    "C71.1": "Frontal lobe",
    "C71.2": "Temporal lobe",
    "C71.3": "Parietal lobe",
    "C71.4": "Occipital lobe",
    "C71.5": "Cerebral ventricle",
    "C71.6": "Cerebellum",
    "C71.7": "Brain stem",
    "C71.8": "Overlapping lesion of brain",
    "C71.9": "Brain, unspecified",
    "C72.0": "Spinal cord",
    "C72.1": "Cauda equina",
    "C72.2": "Olfactory nerve",
    "C72.3": "Optic nerve",
    "C72.4": "Acoustic nerve",
    "C72.5": "Other cranial nerves",
    "C72.8": "Overlapping lesion of CNS",
    "C72.9": "Central nervous system, unspecified",
    "C75.1": "Pituitary gland",
    "C75.2": "Craniopharyngeal duct",
    "C75.3": "Pineal gland",
    "D32.0": "Benign: cerebral meninges",
    "D32.1": "Benign: spinal meninges",
    "D32.9": "Benign: meninges, unspecified",
    "D33.0": "Benign: brain, supratentorial",
    "D33.1": "Benign: brain, infratentorial",
    "D33.2": "Benign: brain, unspecified",
    "D33.3": "Benign: cranial nerves",
    "D33.4": "Benign: spinal cord",
    "D33.7": "Benign: other parts of CNS",
    "D33.9": "Benign: CNS, unspecified",
    "D35.2": "Benign: pituitary gland",
    "D35.3": "Benign: craniopharyngeal duct",
    "D35.4": "Benign: pineal gland",
    "D42.0": "Uncertain behaviour: cerebral meninges",
    "D42.1": "Uncertain behaviour: spinal meninges",
    "D42.9": "Uncertain behaviour: meninges, unspecified",
    "D43.0": "Uncertain behaviour: brain, supratentorial",
    "D43.1": "Uncertain behaviour: brain, infratentorial",
    "D43.2": "Uncertain behaviour: brain, unspecified",
    "D43.3": "Uncertain behaviour: cranial nerves",
    "D43.4": "Uncertain behaviour: spinal cord",
    "D43.7": "Uncertain behaviour: other parts of CNS",
    "D43.9": "Uncertain behaviour: CNS, unspecified",
    "D44.3": "Uncertain behaviour: pituitary gland",
    "D44.4": "Uncertain behaviour: craniopharyngeal duct",
    "D44.5": "Uncertain behaviour: pineal gland",
}
TOPOGRAPHY_CHOICES = [(code, f"{code} {label}") for code, label in TOPOGRAPHY.items()]

# Molecular markers of the suggested variable set (docs/registry-rules.md §1).
MARKERS = {
    "idh": "IDH1/2 mutation",
    "codeletion_1p19q": "1p/19q codeletion",
    "mgmt": "MGMT promoter methylation",
    "cdkn2ab": "CDKN2A/B homozygous deletion",
    "h3k27": "H3 K27 alteration",
    "h3g34": "H3 G34 mutation",
    "tert": "TERT promoter mutation",
    "egfr": "EGFR amplification",
    "chr7_chr10": "Chromosome +7/-10",
    "atrx": "ATRX loss",
    "braf_v600e": "BRAF V600E mutation",
    "braf_fusion": "BRAF fusion",
}

# How each marker's result reads in a report: (altered, wildtype). The stored values stay
# the four generic results; this is wording only.
MARKER_RESULT_WORDS = {
    "idh": ("mutant", "wildtype"),
    "codeletion_1p19q": ("codeleted", "not codeleted"),
    "mgmt": ("methylated", "unmethylated"),
    "cdkn2ab": ("homozygously deleted", "not deleted"),
    "h3k27": ("altered", "wildtype"),
    "h3g34": ("mutant", "wildtype"),
    "tert": ("promoter mutant", "wildtype"),
    "egfr": ("amplified", "not amplified"),
    "chr7_chr10": ("+7/-10 present", "absent"),
    "atrx": ("lost (altered)", "retained"),
    "braf_v600e": ("mutant", "wildtype"),
    "braf_fusion": ("fusion present", "no fusion"),
}
