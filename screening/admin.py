"""The labs' configuration in the admin site: sample types (window, temperature range,
warning share), each lab's drug library and standard panels, and for plate results the
lab's QC thresholds, reference sets (for the selective DSS) and saved plate layouts. No
patient data is edited here."""

from django.contrib import admin

from .models import Drug, DrugPanel, LabQcSettings, PlateLayoutTemplate, ReferenceSet, SampleType


@admin.register(SampleType)
class SampleTypeAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "code",
        "viability_hours",
        "min_celsius",
        "max_celsius",
        "warning_percent",
    ]


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


@admin.register(LabQcSettings)
class LabQcSettingsAdmin(admin.ModelAdmin):
    list_display = [
        "lab",
        "z_prime_pass",
        "z_prime_warn",
        "ssmd_pass",
        "ssmd_warn",
        "max_negative_cv",
        "max_edge_percent",
        "dss_threshold",
    ]


@admin.register(ReferenceSet)
class ReferenceSetAdmin(admin.ModelAdmin):
    list_display = ["name", "version", "lab", "active", "created_at"]
    list_filter = ["lab", "active"]


@admin.register(PlateLayoutTemplate)
class PlateLayoutTemplateAdmin(admin.ModelAdmin):
    list_display = ["name", "lab", "plate_format", "created_at"]
    list_filter = ["lab"]
