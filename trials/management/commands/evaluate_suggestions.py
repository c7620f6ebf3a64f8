"""python manage.py evaluate_suggestions PATH [--trials 200]

Reads every labelled trial of PATH (a folder of label files, or one; the format is in
trials/evaluation.py, the set in trials/demo_data/eligibility_labels/) and prints
precision and recall per criterion kind and overall, the share of right suggestions whose
span points at the labelled words, and the time to suggest criteria for 200 trials with
its floor. Reads no database: the readers alone are measured."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from trials import evaluation


class Command(BaseCommand):
    help = "Measure the suggested criteria against a labelled set of trials."
    requires_system_checks = []  # no database needed: runs on a laptop with the files alone

    def add_arguments(self, parser):
        parser.add_argument("path")
        parser.add_argument("--trials", type=int, default=200, help="how many trials to time")

    def handle(self, *args, path, trials, **options):
        where = Path(path)
        if not where.exists():
            raise CommandError(f"{path}: no such file or folder.")
        try:
            labelled = evaluation.load(where)
        except evaluation.LabelError as error:
            raise CommandError(str(error)) from None
        scores = evaluation.evaluate(labelled)
        took, floor = evaluation.time_200(labelled, trials)
        self.stdout.write(f"{len(labelled)} labelled trials from {path}")
        for line in evaluation.report(scores, took, floor, trials):
            self.stdout.write(line)
