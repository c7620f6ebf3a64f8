"""The API documentation per role: the schema a member is served lists only the operations
their role can use, and links back to the app. drf-spectacular asks each view whether the
requesting member may use it when the schema is not public (SERVE_PUBLIC False; the
generator's has_view_permissions, https://drf-spectacular.readthedocs.io/en/latest/settings.html):
that asks the views' permission classes, and here also the role rules below, because the
apps check roles inside their views (by role and by the patient's institutions), which the
generator cannot see. The schema is built once per role and process (it changes only with
the code)."""

import re

from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.views import SpectacularAPIView
from rest_framework.response import Response

from .models import Role

CLINICIAN, COORDINATOR, LAB, RESEARCHER, ADMIN = (
    Role.CLINICIAN,
    Role.COORDINATOR,
    Role.LAB_SCIENTIST,
    Role.RESEARCHER,
    Role.ADMIN,
)
EVERYONE = frozenset(Role.values)
REGISTER = frozenset({CLINICIAN, COORDINATOR, ADMIN})  # User.sees_register
TRIALS = frozenset({COORDINATOR, ADMIN})  # User.works_trial_matches
SCREENING = frozenset({CLINICIAN, COORDINATOR, LAB})  # User.sees_screening_requests
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})

# (path pattern, methods (None: all), roles): the first rule that matches an operation says
# who can use it; an operation no rule matches is for every member. They restate the views'
# checks (the User role properties and the apps' selectors); tests/consortium/
# test_api_docs_per_role.py calls every list endpoint as each role against them.
ROLE_RULES = [
    (r"^/api/v1/members/", None, {ADMIN}),
    (r"^/api/v1/registry/access-log/", None, {ADMIN}),
    (r"^/api/v1/registry/episodes/\{episode_id\}/reopen/$", None, {COORDINATOR, ADMIN}),
    (r"^/api/v1/registry/episodes/\{episode_id\}/submit/$", None, {CLINICIAN}),
    (r"^/api/v1/registry/(patients|episodes)/", WRITES - {"POST"}, {CLINICIAN}),
    (r"^/api/v1/registry/patients/search/$", None, REGISTER),
    (r"^/api/v1/registry/(patients|episodes)/", {"POST"}, {CLINICIAN}),
    (r"^/api/v1/registry/(patients|episodes|worklist|meetings)/", None, REGISTER),
    (r"^/api/v1/registry/indicator-snapshots/$", {"POST"}, {ADMIN}),
    (r"^/api/v1/registry/indicator-reports/\{report_id\}/release/$", {"POST"}, {ADMIN}),
    (r"^/api/v1/research/deliveries/", None, {ADMIN}),
    (r"^/api/v1/research/projects/\{project_id\}/decision/$", None, {ADMIN}),
    (r"^/api/v1/screening/requests/\{request_id\}/(plates|reports)/$", {"POST"}, {LAB}),
    (r"^/api/v1/screening/(plates|reports)/", WRITES, {LAB}),
    (r"^/api/v1/screening/samples/\{sample_id\}/receipt/$", {"POST"}, {LAB}),
    (r"^/api/v1/screening/", None, SCREENING),
    (r"^/api/v1/trials/matches/\{id\}/reply/$", None, {CLINICIAN}),
    (r"^/api/v1/trials/referrals/\{id\}/take-up/$", None, TRIALS),
    (r"^/api/v1/trials/referrals/", None, EVERYONE),
    (r"^/api/v1/trials/(matches|\{id\}/suggestions|\{id\}/funnel)", None, TRIALS),
    (r"^/api/v1/trials/", WRITES, TRIALS),
]
_COMPILED = [(re.compile(p), m, frozenset(r)) for p, m, r in ROLE_RULES]


def roles_for(path: str, method: str) -> frozenset:
    for pattern, methods, roles in _COMPILED:
        if pattern.search(path) and (methods is None or method.upper() in methods):
            return roles
    return EVERYONE


def role_of(user) -> str:
    """The role the schema is built for ("" for an anonymous visitor)."""
    if not user.is_authenticated:
        return ""
    return ADMIN if user.is_consortium_admin else user.role


class RoleSchemaGenerator(SchemaGenerator):
    def has_view_permissions(self, path, method, view) -> bool:
        if not super().has_view_permissions(path, method, view):
            return False
        role = role_of(view.request.user)
        return not role or role in roles_for(path, method)


_SCHEMAS: dict[tuple, dict] = {}


class RoleSchemaView(SpectacularAPIView):
    """The OpenAPI schema of what the requesting member's role can use."""

    generator_class = RoleSchemaGenerator
    serve_public = False

    def _get_schema_response(self, request):
        version = self.api_version or request.version or self._get_version_parameter(request)
        role = role_of(request.user)
        key = (role, version)
        if key not in _SCHEMAS:
            generator = self.generator_class(
                urlconf=self.urlconf, api_version=version, patterns=self.patterns
            )
            schema = generator.get_schema(request=request, public=False)
            whose = (
                f"the **{Role(role).label}** role can use"
                if role
                else "are public (sign in to see the operations of your role)"
            )
            schema["info"]["description"] = (
                f"{schema['info'].get('description', '')}\n\n"
                f"These are the operations {whose}; other roles see others. "
                "[Back to the NBTC platform](/) · [Your account and API tokens](/account/)"
            )
            _SCHEMAS[key] = schema
        return Response(
            data=_SCHEMAS[key],
            headers={
                "Content-Disposition": f'inline; filename="{self._get_filename(request, version)}"'
            },
        )
