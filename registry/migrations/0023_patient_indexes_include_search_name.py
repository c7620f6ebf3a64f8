# The patient list's name and birth-date indexes INCLUDE the searched name, so a name search
# finds its page in the index alone (PatientFilter.PAGE_IDS_FIRST). Built CONCURRENTLY: a
# national register keeps taking writes while they build.

from django.contrib.postgres.operations import AddIndexConcurrently, RemoveIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("consortium", "0014_inbox"),
        ("registry", "0022_patient_history_list"),
    ]

    operations = [
        RemoveIndexConcurrently(model_name="patient", name="patient_by_surname"),
        AddIndexConcurrently(
            model_name="patient",
            index=models.Index(
                fields=["sort_name", "id"], include=("search_name",), name="patient_by_surname"
            ),
        ),
        RemoveIndexConcurrently(model_name="patient", name="patient_by_birth_date"),
        AddIndexConcurrently(
            model_name="patient",
            index=models.Index(
                fields=["birth_date", "id"],
                include=("search_name",),
                name="patient_by_birth_date",
            ),
        ),
    ]
