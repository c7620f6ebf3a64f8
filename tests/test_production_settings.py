"""Production mode: `check --deploy` is clean, and the settings fail fast without a secret."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PRODUCTION = {
    "DJANGO_DEBUG": "0",
    "DJANGO_SECRET_KEY": "k8#Zp2!vQ9s$Lr4@Wx7^Nc1&Ty6*Hb3(Jm5)Fd0_Gq8+Ve2=Ua9-Oi4",
    "DJANGO_ALLOWED_HOSTS": "nbtc.example.no",
    "NBTC_MFA_ENCRYPTION_KEY": "q3Vb8-xY2kLm9PzR4tWn6JcH1sDf5GaE0uQi7oTy",
}


def manage(*args, env_overrides):
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("DJANGO_") and k != "NBTC_MFA_ENCRYPTION_KEY"
    }
    env.update(env_overrides)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_prints_no_warnings_in_production_mode():
    result = manage("check", "--deploy", "--fail-level", "DEBUG", env_overrides=PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_check_deploy_does_flag_development_mode():
    # The same check fails in development mode, so the test above can fail.
    result = manage(
        "check", "--deploy", "--fail-level", "WARNING", env_overrides={"DJANGO_DEBUG": "1"}
    )
    assert result.returncode != 0
    assert "security.W018" in result.stderr + result.stdout  # DEBUG on


def test_production_refuses_to_start_without_a_secret_key():
    result = manage("check", env_overrides={"DJANGO_DEBUG": "0"})
    assert result.returncode != 0
    assert "Set DJANGO_SECRET_KEY" in result.stderr


def test_production_sends_hsts_csp_and_secure_host_only_cookies():
    code = (
        "from django.conf import settings as s;"
        "print(s.SECURE_HSTS_SECONDS, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE,"
        " s.SESSION_COOKIE_NAME, s.SECURE_CSP['default-src'], s.SECURE_CSP['script-src'])"
    )
    result = manage("shell", "--no-imports", "-c", code, env_overrides=PRODUCTION)
    assert result.stdout.split()[:4] == ["31536000", "True", "True", "__Host-sessionid"], (
        result.stderr
    )
    assert "'self'" in result.stdout and "unsafe-inline" not in result.stdout


def test_production_refuses_to_start_without_a_key_for_the_mfa_secrets():
    without_key = {k: v for k, v in PRODUCTION.items() if k != "NBTC_MFA_ENCRYPTION_KEY"}
    result = manage("check", env_overrides=without_key)
    assert result.returncode != 0
    assert "Set NBTC_MFA_ENCRYPTION_KEY" in result.stderr
    short = manage("check", env_overrides={**PRODUCTION, "NBTC_MFA_ENCRYPTION_KEY": "short"})
    assert short.returncode != 0 and "at least 32 characters" in short.stderr
