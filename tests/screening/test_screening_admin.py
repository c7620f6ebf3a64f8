"""The labs' configuration is edited in the admin site: each screening model registered
there opens its list and add pages (sample types, drugs, panels, QC thresholds,
reference sets, saved layouts), so a broken admin class fails here, not in the lab."""

import pytest
from django.contrib import admin

from consortium.models import Role
from tests.conftest import make_member, sign_in

pytestmark = pytest.mark.django_db


def test_every_screening_admin_page_opens(client):
    superuser = make_member(Role.ADMIN, with_totp=True)
    superuser.is_staff = superuser.is_superuser = True
    superuser.save()
    sign_in(client, superuser)
    models = [m for m in admin.site._registry if m._meta.app_label == "screening"]
    assert {m.__name__ for m in models} >= {
        "LabQcSettings",
        "ReferenceSet",
        "PlateLayoutTemplate",
        "SampleType",
    }
    for model in models:
        base = f"/admin/screening/{model._meta.model_name}/"
        assert client.get(base).status_code == 200, base
        assert client.get(base + "add/").status_code == 200, base
