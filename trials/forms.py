"""Forms of the trials pages. The criteria editor is a formset of typed rows, so a
coordinator never writes JSON: each row is one criterion (must / must not), rows given
the same group letter are alternatives (any of them), and every row applies to the whole
trial or to one arm. Rows <-> the JSON tree: rows_to_trees / tree_to_rows."""

from django import forms

from consortium.widgets import PlainSelect
from registry import vocabulary

from . import criteria
from .criteria_kinds import KINDS, form_fields
from .models import (
    PHASE_WORDS,
    PHASES,
    STEP_TRANSITIONS,
    CloseReason,
    Eligibility,
    ReviewEvent,
    Step,
    Trial,
    TrialStatus,
)
from .selectors import CURRENT, MATCHING_CHOICES

# The editor's choice of kind, and the fields each kind's row uses (the editor shows
# only these; the rest are hidden by the stylesheet as the kind is chosen, so no script
# is needed): both from the kinds (criteria_kinds.KINDS).
KIND_CHOICES = [("", "—"), *((kind.type, kind.label) for kind in KINDS.values())]
KIND_FIELDS = {kind.type: list(kind.form_fields) for kind in KINDS.values()}
GROUPS = [("", "—"), ("A", "A"), ("B", "B"), ("C", "C"), ("D", "D")]


class _CriterionRow(forms.Form):
    scope = forms.ChoiceField(label="Applies to", required=False)
    group = forms.ChoiceField(
        label="Or-group",
        choices=GROUPS,
        required=False,
        help_text="Rows with the same letter: any one of them is enough.",
    )
    must = forms.ChoiceField(
        label="Patient", choices=[("must", "must"), ("must_not", "must not")], initial="must"
    )
    kind = forms.ChoiceField(label="Criterion", choices=KIND_CHOICES, required=False)

    def kind_fields(self):
        """(bound field, the kinds that use it) for the editor's template."""
        return [
            (self[name], " ".join(k for k, names in KIND_FIELDS.items() if name in names))
            for name in ROW_FIELDS
        ]

    def __init__(self, *args, arms=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["scope"].choices = [
            ("", "Whole trial"),
            *((str(a.pk), f"Arm: {a.label}") for a in arms),
        ]

    def clean(self):
        data = super().clean()
        kind = data.get("kind")
        if kind:
            data["leaf"] = {"type": kind, **KINDS[kind].from_form(data)}
        return data


ROW_FIELDS = form_fields()  # every kind's fields, by name
# One row of the editor: the fields above and every kind's own.
CriterionRowForm = type(
    "CriterionRowForm", (_CriterionRow,), {"__module__": __name__, **ROW_FIELDS}
)


class BaseRowFormSet(forms.BaseFormSet):
    def __init__(self, *args, arms=(), **kwargs):
        self.arms = arms
        super().__init__(*args, **kwargs)

    def get_form_kwargs(self, index):
        return {"arms": self.arms}


CriteriaFormSet = forms.formset_factory(
    CriterionRowForm, formset=BaseRowFormSet, extra=1, can_delete=True
)


class CriteriaExtrasForm(forms.Form):
    check_by_hand = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="Criteria that cannot be encoded, one per line (checked by hand).",
    )
    version = forms.IntegerField(widget=forms.HiddenInput)


def rows_to_trees(rows: list[dict], check_by_hand: str, arm_ids) -> tuple[dict, dict]:
    """(trial tree, {arm_id: tree or None}) from the cleaned rows."""
    scopes: dict[str, list] = {"": []}
    groups: dict[tuple, dict] = {}
    for row in rows:
        leaf = row["leaf"]
        node = {"not": leaf} if row["must"] == "must_not" else leaf
        scope = row.get("scope") or ""
        bucket = scopes.setdefault(scope, [])
        if row.get("group"):
            key = (scope, row["group"])
            if key not in groups:
                groups[key] = {"any": []}
                bucket.append(groups[key])
            groups[key]["any"].append(node)
        else:
            bucket.append(node)
    lines = [line.strip() for line in check_by_hand.splitlines() if line.strip()]
    trial_tree = {
        "version": criteria.SCHEMA_VERSION,
        "criteria": {"all": scopes.pop("")},
        "check_by_hand": lines,
    }
    arm_trees = {
        arm_id: (
            {"version": criteria.SCHEMA_VERSION, "criteria": {"all": scopes[str(arm_id)]}}
            if str(arm_id) in scopes
            else None
        )
        for arm_id in arm_ids
    }
    return trial_tree, arm_trees


def _leaf_row(node, scope: str, group: str) -> dict:
    must = "must"
    if "not" in node:
        must, node = "must_not", node["not"]
    if "type" not in node:
        raise ValueError("not a row")
    row = {"scope": scope, "group": group, "must": must, "kind": node["type"]}
    row.update({name: _empty(field) for name, field in ROW_FIELDS.items()})
    row.update(KINDS[node["type"]].to_form(node))
    return row


def _empty(field):
    """A field's value in a row of another kind."""
    if field.initial is not None:
        return field.initial
    if isinstance(field, forms.MultipleChoiceField):
        return []
    return None if isinstance(field, forms.DecimalField) else ""


def tree_to_rows(tree, scope: str = "") -> list[dict]:
    """Rows for the editor; ValueError when the tree is not all / not / any-of-leaves
    (then it is edited through the API)."""
    if not tree:
        return []
    root = tree["criteria"]
    if "all" not in root:
        root = {"all": [root]}
    rows, letters = [], iter("ABCD")
    for node in root["all"]:
        if "any" in node:
            letter = next(letters, None)
            if letter is None:
                raise ValueError("more than four any-of groups")
            rows += [_leaf_row(child, scope, letter) for child in node["any"]]
        else:
            rows.append(_leaf_row(node, scope, ""))
    return rows


class TrialForm(forms.ModelForm):
    phases = forms.MultipleChoiceField(
        required=False,
        choices=[(p, PHASE_WORDS[p]) for p in PHASES],
        widget=forms.CheckboxSelectMultiple,
    )
    conditions = forms.CharField(required=False, help_text="Separated by semicolons.")
    version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    class Meta:
        model = Trial
        fields = [
            "nct_id",
            "brief_title",
            "official_title",
            "acronym",
            "overall_status",
            "phases",
            "conditions",
            "sponsor",
            "minimum_age",
            "maximum_age",
            "sex",
            "eligibility_text",
            "coordinator_notes",
        ]

    def clean_conditions(self):
        return [c.strip() for c in self.cleaned_data["conditions"].split(";") if c.strip()]


class TrialStatusForm(forms.Form):
    overall_status = forms.ChoiceField(choices=TrialStatus.choices)
    coordinator_notes = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))
    version = forms.IntegerField(widget=forms.HiddenInput)


class ReferralForm(forms.Form):
    cross_border_referral = forms.BooleanField(
        required=False, label="Norwegian patients can be referred to a site abroad"
    )
    version = forms.IntegerField(widget=forms.HiddenInput)


class TrialFilterForm(forms.Form):
    status = forms.ChoiceField(required=False, choices=[("", "Any status"), *TrialStatus.choices])
    phase = forms.ChoiceField(
        required=False, choices=[("", "Any phase"), *((p, PHASE_WORDS[p]) for p in PHASES)]
    )
    norwegian = forms.BooleanField(required=False, label="Norwegian site")
    diagnosis = forms.ChoiceField(
        required=False,
        choices=[
            ("", "Any diagnosis"),
            *((k, t.label) for k, t in vocabulary.TUMOUR_TYPES.items()),
        ],
    )
    search = forms.CharField(required=False, max_length=200)


def _encoded_trials() -> list[tuple[int, str]]:
    """The trials the queue can be filtered by (those with encoded criteria), labelled by
    acronym and NCT id, read as values (no model instance per trial)."""
    return [
        (pk, " · ".join(filter(None, [acronym, nct_id])) or title[:60])
        for pk, acronym, nct_id, title in Trial.objects.filter(criteria_encoded_at__isnull=False)
        .order_by("acronym", "brief_title", "id")
        .values_list("pk", "acronym", "nct_id", "brief_title")
    ]


class QueueFilterForm(forms.Form):
    trial = forms.TypedChoiceField(required=False, coerce=int, empty_value=None, widget=PlainSelect)
    matching = forms.ChoiceField(
        required=False, choices=MATCHING_CHOICES, initial=CURRENT, widget=PlainSelect
    )
    institution = forms.CharField(required=False, max_length=20)
    outcome = forms.ChoiceField(
        required=False, choices=[("", "Any outcome"), *Eligibility.choices], widget=PlainSelect
    )
    step = forms.ChoiceField(
        required=False, choices=[("", "Any step"), *Step.choices], widget=PlainSelect
    )
    flagged = forms.BooleanField(required=False, label="Needs another look")
    include_inactive = forms.BooleanField(required=False, label="Include no longer matching")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["trial"].choices = [("", "All trials"), *_encoded_trials()]


class MoveForm(forms.Form):
    step = forms.ChoiceField(choices=Step.choices[1:], widget=PlainSelect)

    def __init__(self, *args, current_step: str | None = None, **kwargs):
        """With the match's step: offer only the moves the table allows from it (the
        service refuses any other, whatever is posted)."""
        super().__init__(*args, **kwargs)
        if current_step is not None:
            allowed = STEP_TRANSITIONS[current_step]
            self.fields["step"].choices = [(s, Step(s).label) for s in allowed]

    close_reason = forms.ChoiceField(
        required=False, choices=[("", "—"), *CloseReason.choices], widget=PlainSelect
    )
    note = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    version = forms.IntegerField(widget=forms.HiddenInput, required=False)


class CheckForm(forms.Form):
    text = forms.CharField(widget=forms.HiddenInput, max_length=1000)
    status = forms.ChoiceField(
        choices=[("met", "Met"), ("not_met", "Not met"), ("unchecked", "Unchecked")],
        widget=forms.RadioSelect,
    )
    note = forms.CharField(required=False, max_length=2000)
    version = forms.IntegerField(widget=forms.HiddenInput)


class ReplyForm(forms.Form):
    answer = forms.ChoiceField(choices=ReviewEvent.Answer.choices, widget=forms.RadioSelect)
    note = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
