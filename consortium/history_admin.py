"""The admin site's change-history list (pghistory's events admin), without the register.

Event rows copy the whole record, so a patient's history holds the full national ID and
name, which consortium admins see masked everywhere else (and may not search by). The
register's own History page shows a patient's changes to the members allowed to see them;
the admin list keeps every other app's history. Selected with PGHISTORY_ADMIN_CLASS."""

from pghistory.admin import EventsAdmin

HIDDEN_APPS = ("registry.",)  # event models are labelled "app.ModelEvent"


class HistoryWithoutPatientsAdmin(EventsAdmin):
    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        for label in HIDDEN_APPS:
            queryset = queryset.exclude(pgh_model__startswith=label)
        return queryset
