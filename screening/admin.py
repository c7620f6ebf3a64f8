"""The labs' configuration in the admin site: sample types (window, temperature range,
warning share) and each lab's drug library and standard panels."""

from django.contrib import admin

from .models import Drug, DrugPanel, SampleType


@admin.register(SampleType)
class SampleTypeAdmin(admin.ModelAdmin):
    list_display = ["name", "code", "viability_hours", "min_celsius", "max_celsius", "warning_percent"]


@admin.register(Drug)
class DrugAdmin(admin.ModelAdmin):
    list_display = ["name", "lab", "drug_class", "approved"]
    list_filter = ["lab", "approved"]
    search_fields = ["name", "drug_class"]


@admin.register(DrugPanel)
class DrugPanelAdmin(admin.ModelAdmin):
    list_display = ["name", "lab"]
    list_filter = ["lab"]
    filter_horizontal = ["drugs"]
