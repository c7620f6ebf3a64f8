"""What the register tells other apps. Trials and screening listen; the register never
imports them (apps depend one way: consortium <- registry <- trials, screening).

`register_changed` is sent after the transaction commits, with `patient_id` and
`episode_id` (None when the change is to the patient alone)."""

from django.dispatch import Signal

register_changed = Signal()
