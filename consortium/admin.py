from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from pghistory.admin import EventModelAdmin  # noqa: F401  (registers the Events admin)

from .models import (
    AccessLog,
    ApiToken,
    DirectoryCategory,
    DirectoryImport,
    DirectorySuggestion,
    FailedPasswordCheck,
    Institution,
    Membership,
    NetworkGroup,
    User,
)


@admin.register(Institution)
class InstitutionAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "kind", "city", "health_region"]
    list_filter = ["kind", "health_region"]
    search_fields = ["code", "name", "city"]


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 1


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    ordering = ["email"]
    list_display = ["email", "full_name", "role", "is_active", "is_staff"]
    list_filter = ["role", "is_active", "is_staff", "institutions"]
    search_fields = ["email", "full_name"]
    inlines = [MembershipInline]
    fieldsets = [
        (None, {"fields": ["email", "full_name", "role", "password"]}),
        ("Access", {"fields": ["is_active", "is_staff", "is_superuser", "groups"]}),
        ("Dates", {"fields": ["last_login", "date_joined"]}),
    ]
    add_fieldsets = [(None, {"fields": ["email", "full_name", "role", "password1", "password2"]})]


@admin.register(AccessLog)
class AccessLogAdmin(admin.ModelAdmin):
    """Read-only: the log is append-only in the database too."""

    list_display = ["at", "user", "patient_id", "page", "ip"]
    list_filter = ["page"]
    search_fields = ["user__email", "patient_id"]
    date_hierarchy = "at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(DirectoryCategory)
class DirectoryCategoryAdmin(admin.ModelAdmin):
    list_display = ["name", "parent", "position"]


@admin.register(NetworkGroup)
class NetworkGroupAdmin(admin.ModelAdmin):
    list_display = ["name", "acronym", "category", "removed_at", "updated_at"]
    list_filter = ["category", "removed_at"]
    search_fields = ["name", "acronym"]
    readonly_fields = ["version"]


@admin.register(DirectorySuggestion)
class DirectorySuggestionAdmin(admin.ModelAdmin):
    list_display = ["group", "suggested_by", "status", "created_at"]
    list_filter = ["status"]


@admin.register(DirectoryImport)
class DirectoryImportAdmin(admin.ModelAdmin):
    list_display = ["at", "source", "added", "updated", "unchanged", "removed"]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Admins see whose tokens exist and revoke them (delete); they cannot read one (only a
    digest is stored and not even that is shown), create one for a member, or extend one."""

    list_display = ["token_key", "user", "name", "created", "expiry", "last_used_at"]
    list_filter = ["expiry"]
    search_fields = ["user__email", "token_key", "name"]
    fields = ["token_key", "user", "name", "created", "expiry", "last_used_at"]
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(FailedPasswordCheck)
class FailedPasswordCheckAdmin(admin.ModelAdmin):
    """Wrong passwords re-entered to sign, and those refused by the lockout. Read-only: the
    table is append-only in the database too."""

    list_display = ["at", "user", "purpose", "locked", "ip"]
    list_filter = ["locked"]
    search_fields = ["user__email", "purpose"]
    date_hierarchy = "at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
