"""Initial institutions: the Norwegian university hospitals that treat brain tumours and
the university labs of the consortium. Data only; reversible."""

from django.db import migrations

INSTITUTIONS = [
    # code, name, kind, city, health region
    ("OUS", "Oslo universitetssykehus", "hospital", "Oslo", "south_east"),
    ("HUS", "Haukeland universitetssjukehus", "hospital", "Bergen", "west"),
    ("STOLAV", "St. Olavs hospital", "hospital", "Trondheim", "central"),
    ("UNN", "Universitetssykehuset Nord-Norge", "hospital", "Tromsø", "north"),
    ("SUS", "Stavanger universitetssjukehus", "hospital", "Stavanger", "west"),
    ("UIB-LAB", "University of Bergen, Department of Biomedicine", "lab", "Bergen", ""),
    ("UIO-LAB", "University of Oslo, Institute of Clinical Medicine", "lab", "Oslo", ""),
    ("NTNU-LAB", "NTNU, Department of Clinical and Molecular Medicine", "lab", "Trondheim", ""),
    ("UIT-LAB", "UiT The Arctic University of Norway, Department of Medical Biology", "lab", "Tromsø", ""),
    ("UIO-ICR", "Institute for Cancer Research, Oslo University Hospital", "research_institute", "Oslo", "south_east"),
]


def seed(apps, schema_editor):
    Institution = apps.get_model("consortium", "Institution")
    for code, name, kind, city, region in INSTITUTIONS:
        Institution.objects.update_or_create(
            code=code, defaults={"name": name, "kind": kind, "city": city, "health_region": region}
        )


def unseed(apps, schema_editor):
    apps.get_model("consortium", "Institution").objects.filter(
        code__in=[row[0] for row in INSTITUTIONS], members__isnull=True
    ).delete()


class Migration(migrations.Migration):
    dependencies = [("consortium", "0001_initial")]
    operations = [migrations.RunPython(seed, unseed)]
