from django.db import migrations

from screening.library import seed


class Migration(migrations.Migration):
    dependencies = [("screening", "0001_initial"), ("consortium", "0002_seed_institutions")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
