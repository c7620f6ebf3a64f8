"""What the register tells other apps. Trials and screening listen; the register never
imports them (apps depend one way: consortium <- registry <- trials, screening).

`register_changed` is sent inside the saving transaction, with `patient_id` and
`episode_id` (None when the change is to the patient alone). Receivers record follow-up work
with consortium.services.outbox_enqueue: it commits with the change (or not at all, when
the save fails) and runs after commit, even if the broker is down at that moment."""

from django.dispatch import Signal

register_changed = Signal()
