"""Trials imported before has_nordic_site existed: set it from their sites, and their
matches' reachable flag from it (the queue's order)."""

from django.db import migrations

NORDIC = ("Norway", "Sweden", "Denmark", "Finland", "Iceland")


def forwards(apps, schema_editor):
    Trial = apps.get_model("trials", "Trial")
    Match = apps.get_model("trials", "Match")
    nordic = Trial.objects.filter(sites__country__in=NORDIC).values("pk")
    Trial.objects.filter(pk__in=nordic).update(has_nordic_site=True)
    reachable = Trial.objects.filter(has_nordic_site=True) | Trial.objects.filter(
        cross_border_referral=True
    )
    Match.objects.exclude(trial__in=reachable.values("pk")).update(reachable=False)


class Migration(migrations.Migration):
    dependencies = [("trials", "0006_review_checks_and_queue_order")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
