"""Screening's own notices move into the members' one inbox (consortium.InboxItem): each
kept with its text, time, read state and link, then the table goes."""

from django.db import migrations


def copy_notices(apps, schema_editor):
    Notification = apps.get_model("screening", "Notification")
    InboxItem = apps.get_model("consortium", "InboxItem")
    rows = Notification.objects.select_related("request").order_by("id").iterator(chunk_size=2000)
    batch = []
    for notice in rows:
        batch.append(
            InboxItem(
                recipient_id=notice.user_id,
                kind="alert" if notice.alert_id else "screening",
                text=notice.text,
                url=f"/screening/requests/{notice.request_id}/",
                patient_id=notice.request.patient_id,
                key=(
                    f"screening.alert:{notice.alert_id}"
                    if notice.alert_id
                    else f"screening.notice:{notice.pk}"
                ),
                created_at=notice.created_at,
                read_at=notice.read_at,
            )
        )
        if len(batch) == 2000:
            InboxItem.objects.bulk_create(batch, ignore_conflicts=True)
            batch = []
    InboxItem.objects.bulk_create(batch, ignore_conflicts=True)


class Migration(migrations.Migration):
    dependencies = [
        ("consortium", "0014_inbox"),
        ("screening", "0009_request_list_indexes"),
    ]

    operations = [
        migrations.RunPython(copy_notices, migrations.RunPython.noop),
        migrations.DeleteModel(name="Notification"),
    ]
