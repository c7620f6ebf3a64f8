"""What people type into the directory search, in Norwegian (and Swedish, Danish) or in
English, and the words the directory's groups use for it: the one synonym list. Keys and
words are written without accents; the search compares unaccented text (PostgreSQL's
unaccent extension, https://www.postgresql.org/docs/current/unaccent.html), so "hjärntumör"
and "hjarntumor" are the same word. Norwegian terms as in the Norwegian Cancer Society's
cancer-type pages (https://kreftforeningen.no/om-kreft/kreftformer/) and the Norwegian
Directorate of Health's national guidelines (https://www.helsedirektoratet.no/retningslinjer)."""

# A group of words meaning the same thing; a typed word that is one of them (or the start
# of one, from four letters) finds what any of them finds. The directory names brain and
# spinal cord tumours "brain tumours" and "neuro-oncology"; "glioma" is their commonest kind.
SYNONYM_GROUPS = [
    # The central nervous system (CNS)
    {
        "brain",
        "cns",
        "glioma",
        "gliomas",
        "glioblastoma",
        "astrocytoma",
        "oligodendroglioma",
        "meningioma",
        "medulloblastoma",
        "hjernesvulst",
        "hjernesvulster",
        "hjernetumor",
        "hjernetumorer",
        "hjernekreft",
        "hjarntumor",
        "hjarntumorer",
        "hjernekraeft",
        "nevroonkologi",
        "neuroonkologi",
    },
    {"breast", "brystkreft", "brostcancer", "brystkraeft", "mammacancer"},
    {"lung", "lungekreft", "lungcancer", "lungekraeft", "thoracic"},
    {
        "colorectal",
        "tarmkreft",
        "tykktarmskreft",
        "endetarmskreft",
        "kolorektal",
        "tjocktarmscancer",
    },
    {"prostate", "prostatakreft", "prostatacancer", "prostatakraeft"},
    {"melanoma", "foflekkreft", "melanom", "modermarkscancer"},
    {"skin", "hudkreft", "hudcancer", "hudkraeft"},
    {"lymphoma", "lymphoid", "lymfom", "lymfekreft"},
    {"leukaemia", "leukemia", "leukemi", "blodkreft", "leukaemi"},
    {"myeloma", "myelomatose", "myelom", "benmargskreft"},
    {"sarcoma", "sarcomas", "sarkom", "sarkomer", "beinkreft", "blotvevssarkom"},
    {
        "ovarian",
        "eggstokkreft",
        "aggstockscancer",
        "aeggestokkraeft",
        "gynaecologic",
        "gynekologisk",
        "livmorkreft",
        "livmorhalskreft",
        "cervical",
        "endometrial",
    },
    {
        "pancreatic",
        "bukspyttkjertelkreft",
        "pankreaskreft",
        "bukspottkortelcancer",
        "hepato",
        "biliary",
        "leverkreft",
        "galleveiskreft",
    },
    {"bladder", "urothelial", "blaerekreft", "urinblaerekreft", "blascancer"},
    {"testicular", "testikkelkreft", "testikelcancer", "testikelkraeft"},
    {"neuroendocrine", "nevroendokrin", "neuroendokrin"},
    {
        "paediatric",
        "pediatric",
        "childhood",
        "children",
        "barnekreft",
        "barn",
        "barncancer",
        "borneonkologi",
    },
    {"tumour", "tumours", "tumor", "tumors", "svulst", "svulster", "kreft", "cancer", "kraeft"},
]

_BY_WORD: dict[str, frozenset[str]] = {}
for _group in SYNONYM_GROUPS:
    for _word in _group:
        _BY_WORD[_word] = frozenset(_group)

# What Python's Unicode decomposition leaves as it is: the Nordic letters unaccent maps.
_NORDIC = str.maketrans({"ø": "o", "æ": "ae", "å": "a", "ä": "a", "ö": "o", "ß": "ss"})


def plain(word: str) -> str:
    """The word lowercased without accents, as unaccent writes it (for the lookup here)."""
    import unicodedata

    decomposed = unicodedata.normalize("NFKD", word.lower().translate(_NORDIC))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def synonyms(word: str) -> frozenset[str]:
    """The words the typed `word` stands for, itself included (plain, unaccented)."""
    word = plain(word)
    found = set(_BY_WORD.get(word, ()))
    if len(word) >= 4:  # typing under way: "hjernes" is on its way to "hjernesvulst"
        for key, group in _BY_WORD.items():
            if key.startswith(word):
                found |= group
    return frozenset(found | {word})
