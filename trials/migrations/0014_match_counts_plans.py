"""The match-count triggers and rebuild (0013) with plans that do not depend on
statistics: a transition table has none, and right after a full run from empty the
matches' are stale, so the planner could walk the whole statement's rows once per
patient-institution row (the rebuild once took minutes). Each bucket's institution set
is now read by an index lookup per patient (the rebuild: one hash join over all links)."""

import importlib

from django.db import migrations

before = importlib.import_module("trials.migrations.0013_match_counts")

# A patient's institution set, ids ascending, '{}' for none: as in 0013.
SET_OF = """coalesce((SELECT array_agg(pi.institution_id ORDER BY pi.institution_id)
    FROM registry_patientinstitution pi WHERE pi.patient_id = g.patient_id), '{}')"""


def _add(changes: str) -> str:
    """Insert the grouped changes (rows of BUCKET and n = +1/-1) as count rows."""
    return f"""WITH d AS ({changes}),
        g AS (SELECT {before.BUCKET}, sum(n) AS n FROM d GROUP BY 1, 2, 3, 4, 5, 6)
        INSERT INTO trials_matchcount
            (trial_id, institutions, active, eligibility, step, needs_another_look, n)
        SELECT g.trial_id, {SET_OF}, g.active, g.eligibility, g.step,
            g.needs_another_look, sum(g.n)
        FROM g
        GROUP BY 1, 2, 3, 4, 5, 6 HAVING sum(g.n) <> 0;"""


KEY, OLD_KEY, CHANGED = before.KEY, before.OLD_KEY, before.CHANGED
UPDATED = (
    f"SELECT {KEY.strip('()')}, 1 AS n {CHANGED} "
    f"UNION ALL SELECT {OLD_KEY.strip('()')}, -1 {CHANGED}"
)
INSERTED = f"SELECT {before.BUCKET}, 1 AS n FROM new_rows"
DELETED = f"SELECT {before.BUCKET}, -1 AS n FROM old_rows"
MATCHES = f"""
CREATE OR REPLACE FUNCTION trials_matchcount_of_matches() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        {_add(INSERTED)}
    ELSIF TG_OP = 'DELETE' THEN
        {_add(DELETED)}
    ELSE
        {_add(UPDATED)}
    END IF;
    RETURN NULL;
END $$;
"""

REBUILD = """
CREATE OR REPLACE FUNCTION trials_matchcount_rebuild() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    LOCK TABLE trials_matchcount IN EXCLUSIVE MODE;
    DELETE FROM trials_matchcount;
    INSERT INTO trials_matchcount
        (trial_id, institutions, active, eligibility, step, needs_another_look, n)
    SELECT m.trial_id, coalesce(s.institutions, '{}'), m.active, m.eligibility, m.step,
        m.needs_another_look, count(*)
    FROM trials_match m LEFT JOIN (
        SELECT patient_id, array_agg(institution_id ORDER BY institution_id) AS institutions
        FROM registry_patientinstitution GROUP BY patient_id) s USING (patient_id)
    GROUP BY 1, 2, 3, 4, 5, 6;
END $$;
"""


def _undo() -> str:
    return before.MATCHES.split("CREATE TRIGGER")[0].replace(
        "CREATE FUNCTION", "CREATE OR REPLACE FUNCTION"
    ) + before.REBUILD.split("SELECT trials_matchcount_rebuild();")[0].replace(
        "CREATE FUNCTION", "CREATE OR REPLACE FUNCTION"
    )


class Migration(migrations.Migration):
    dependencies = [("trials", "0013_match_counts")]

    operations = [migrations.RunSQL(MATCHES + REBUILD, _undo())]
