from django.db import migrations

# The ICU collation for Norwegian Bokmål (models.NORWEGIAN). initdb with ICU predefines it
# in pg_catalog; IF NOT EXISTS makes sure a server without the predefined set has it too
# (https://www.postgresql.org/docs/15/collation.html#COLLATION-MANAGING).


class Migration(migrations.Migration):
    dependencies = [("consortium", "0008_history_append_only")]

    operations = [
        migrations.RunSQL(
            "CREATE COLLATION IF NOT EXISTS public.\"nb-NO-x-icu\" "
            "(provider = icu, locale = 'nb-NO');",
            'DROP COLLATION IF EXISTS public."nb-NO-x-icu";',
        )
    ]
