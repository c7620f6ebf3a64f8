"""TOTP secrets and recovery-code seeds were stored in clear: encrypt those that are not yet
(the adapter's keys, settings.MFA_ENCRYPTION_KEYS). Reversing decrypts them again."""

from django.db import migrations

# The values allauth passes through the adapter's encrypt hook, by authenticator type.
SECRET_FIELDS = {"totp": ["secret"], "recovery_codes": ["seed"]}


def _convert(apps, convert):
    Authenticator = apps.get_model("mfa", "Authenticator")
    for authenticator in Authenticator.objects.filter(type__in=SECRET_FIELDS):
        data = dict(authenticator.data)
        for field in SECRET_FIELDS[authenticator.type]:
            if isinstance(data.get(field), str):
                data[field] = convert(data[field])
        if isinstance(data.get("migrated_codes"), list):
            data["migrated_codes"] = [convert(code) for code in data["migrated_codes"]]
        if data != authenticator.data:
            authenticator.data = data
            authenticator.save(update_fields=["data"])


def encrypt_mfa_secrets(apps, schema_editor):
    from consortium.adapters import mfa_secret_encrypt, mfa_secret_is_encrypted

    _convert(
        apps, lambda v: v if mfa_secret_is_encrypted(v) else mfa_secret_encrypt(v)
    )


def decrypt_mfa_secrets(apps, schema_editor):
    from consortium.adapters import mfa_secret_decrypt, mfa_secret_is_encrypted

    _convert(apps, lambda v: mfa_secret_decrypt(v) if mfa_secret_is_encrypted(v) else v)


class Migration(migrations.Migration):
    dependencies = [
        ("consortium", "0004_api_tokens"),
        ("mfa", "0003_authenticator_type_uniq"),
    ]

    operations = [migrations.RunPython(encrypt_mfa_secrets, decrypt_mfa_secrets)]
