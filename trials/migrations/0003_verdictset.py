"""Verdict lists stored once each (trials_verdictset, keyed by the fingerprint) instead
of in every match: Match.fingerprint becomes a foreign key to them (same column), and
Match.verdicts and MatchEvent.verdicts go after their contents are moved.

Matches and history rows that dropped out were given an empty fingerprint before (their
verdicts kept as the coordinator last saw them): they get md5 of their verdicts' JSON as
a key of their own, so those verdicts stay reachable (a later run that judges the match
again finds a different fingerprint and rewrites it, as it did for the empty one)."""

import django.db.models.deletion
import pgtrigger.compiler
import pgtrigger.migrations
from django.db import migrations, models

MOVE = """
INSERT INTO trials_verdictset (fingerprint, rows)
    SELECT DISTINCT ON (fingerprint) fingerprint, verdicts FROM trials_match WHERE fingerprint <> ''
    ON CONFLICT DO NOTHING;
INSERT INTO trials_verdictset (fingerprint, rows)
    SELECT DISTINCT ON (fingerprint) fingerprint, verdicts FROM trials_matchevent WHERE fingerprint <> ''
    ON CONFLICT DO NOTHING;
INSERT INTO trials_verdictset (fingerprint, rows)
    SELECT DISTINCT ON (md5(verdicts::text)) md5(verdicts::text), verdicts FROM trials_match WHERE fingerprint = ''
    ON CONFLICT DO NOTHING;
INSERT INTO trials_verdictset (fingerprint, rows)
    SELECT DISTINCT ON (md5(verdicts::text)) md5(verdicts::text), verdicts FROM trials_matchevent
    WHERE fingerprint = '' ON CONFLICT DO NOTHING;
UPDATE trials_match SET fingerprint = md5(verdicts::text) WHERE fingerprint = '';
UPDATE trials_matchevent SET fingerprint = md5(verdicts::text) WHERE fingerprint = '';
"""

MOVE_BACK = """
UPDATE trials_match AS m SET verdicts = v.rows FROM trials_verdictset AS v WHERE v.fingerprint = m.fingerprint;
UPDATE trials_matchevent AS m SET verdicts = v.rows FROM trials_verdictset AS v WHERE v.fingerprint = m.fingerprint;
"""


class Migration(migrations.Migration):

    dependencies = [
        ('trials', '0002_match_drop_redundant_indexes'),
    ]

    operations = [
        migrations.CreateModel(
            name='VerdictSet',
            fields=[
                ('fingerprint', models.CharField(max_length=32, primary_key=True, serialize=False)),
                ('rows', models.JSONField(default=list)),
            ],
        ),
        # Before the data moves: the move's updates are not coordinator-visible changes.
        pgtrigger.migrations.RemoveTrigger(
            model_name='match',
            name='update_update',
        ),
        migrations.RunSQL(MOVE, MOVE_BACK),
        # The fingerprint column stays; it becomes the foreign key's.
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveField(model_name='match', name='fingerprint'),
                migrations.RemoveField(model_name='matchevent', name='fingerprint'),
                migrations.AddField(
                    model_name='match',
                    name='verdict_set',
                    field=models.ForeignKey(db_column='fingerprint', db_constraint=False, db_index=False,
                                            on_delete=django.db.models.deletion.PROTECT, related_name='+',
                                            to='trials.verdictset'),
                ),
                migrations.AddField(
                    model_name='matchevent',
                    name='verdict_set',
                    field=models.ForeignKey(db_column='fingerprint', db_constraint=False, db_index=False,
                                            on_delete=django.db.models.deletion.DO_NOTHING, related_name='+',
                                            related_query_name='+', to='trials.verdictset'),
                ),
            ],
        ),
        migrations.AlterField(
            model_name='matchevent',
            name='verdict_set',
            field=models.ForeignKey(db_column='fingerprint', db_constraint=False,
                                    on_delete=django.db.models.deletion.DO_NOTHING, related_name='+',
                                    related_query_name='+', to='trials.verdictset'),
        ),
        migrations.RemoveField(
            model_name='match',
            name='verdicts',
        ),
        migrations.RemoveField(
            model_name='matchevent',
            name='verdicts',
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='match',
            trigger=pgtrigger.compiler.Trigger(name='update_update', sql=pgtrigger.compiler.UpsertTriggerSql(condition='WHEN (OLD.* IS DISTINCT FROM NEW.*)', func='INSERT INTO "trials_matchevent" ("active", "arm_id", "close_reason", "episode_id", "fingerprint", "id", "inactive_reason", "matched_at", "needs_another_look", "notes", "outcome", "outcome_changed_at", "patient_id", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "step", "trial_id", "version") VALUES (NEW."active", NEW."arm_id", NEW."close_reason", NEW."episode_id", NEW."fingerprint", NEW."id", NEW."inactive_reason", NEW."matched_at", NEW."needs_another_look", NEW."notes", NEW."outcome", NEW."outcome_changed_at", NEW."patient_id", _pgh_attach_context(), NOW(), \'update\', NEW."id", NEW."step", NEW."trial_id", NEW."version"); RETURN NULL;', hash='d823b3460aca06f54d95ab3e2415ea174a255196', operation='UPDATE', pgid='pgtrigger_update_update_1d0af', table='trials_match', when='AFTER')),
        ),
    ]
