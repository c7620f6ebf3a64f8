#!/usr/bin/env python3
"""p50/p95 latency of the register's patient list, name search, patient page and API list for
one signed-in clinician under concurrent clients.

    python benchmarks/registry_latency.py [--base-url http://127.0.0.1:8000] [--clients 20]
        [--requests 200] [--warmup 10] [--email E --password P --totp-secret S]
        [--surname Hansen] [--register-numbers NB-XXXX-XXXX,NB-...]

Signs in once through the real allauth flow (e-mail and password, then the current TOTP code)
and shares that session among all client threads, as many tabs of one browser would. Patient
pages take --register-numbers in turn (default: the first page of the API list). Each row
says whether its p95 meets the target, 150 ms; two floor rows follow (a static file, and the
cheapest signed-in answer: the inbox's unread count). Otherwise as directory_latency.py: a new
connection per request, latency to the last byte, anything but 200 stops the run; standard
library only, loopback hosts only.
`benchmarks/registry_latency.sh` sets up a production-like server with 50,000 synthetic
patients and a clinician at OUS, and runs this against it. Against `make run`:
--email clinician@demo.nbtc.no --password demo-password-nbtc
--totp-secret JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP
"""

import base64
import hashlib
import hmac
import http.cookies
import json
import re
import struct
import sys
import time
import urllib.parse

from _latency import (
    BenchmarkError,
    argument_parser,
    check_base_url,
    fail,
    fetch,
    make_opener,
    print_table,
    send,
)

# The clinician registry_latency.sh creates in the benchmark database (benchmark only).
CLINICIAN_EMAIL = "bench.clinician@bench.nbtc.no"
CLINICIAN_PASSWORD = "bench-password-not-secret-4711"  # noqa: S105 - benchmark database only
CLINICIAN_TOTP_SECRET = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"  # noqa: S105 - likewise
TARGET_P95_MS = 150
CSRF_FIELD = re.compile(rb'name="csrfmiddlewaretoken" value="([^"]+)"')


def totp_code(secret: str, at: float | None = None) -> str:
    """RFC 6238 as allauth computes it (30-second period, 6 digits, HMAC-SHA1), the code
    tests/conftest.py's totp_code gives."""
    key = base64.b32decode(secret, casefold=True)
    digest = hmac.new(key, struct.pack(">Q", int((at or time.time()) // 30)), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return f"{value % 1_000_000:06d}"


class Browser:
    """One browser's cookies, kept by hand: in production the cookies are Secure
    (`__Host-` names), which urllib's cookie jar does not send over plain HTTP."""

    def __init__(self, base_url: str, timeout: float):
        self.base_url, self.timeout = base_url, timeout
        self.opener = make_opener()
        self.cookies: dict[str, str] = {}

    @property
    def headers(self) -> dict:
        return {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}

    def request(self, path: str, form: dict | None = None) -> tuple[int, object, bytes]:
        headers = self.headers
        data = None
        if form is not None:  # a form POST, as the browser sends it
            data = urllib.parse.urlencode(form).encode()
            headers |= {
                "Content-Type": "application/x-www-form-urlencoded",
                "Origin": self.base_url,
            }
        status, answer_headers, body = send(
            self.opener, self.base_url + path, headers, self.timeout, data
        )
        for line in answer_headers.get_all("Set-Cookie") or []:
            for name, morsel in http.cookies.SimpleCookie(line).items():
                if morsel.value:
                    self.cookies[name] = morsel.value
                else:  # deleted
                    self.cookies.pop(name, None)
        return status, answer_headers, body

    def post_form(self, path: str, fields: dict) -> tuple[int, str]:
        """GET the form page for its CSRF token, POST the fields; (status, Location)."""
        status, _, body = self.request(path)
        token = CSRF_FIELD.search(body)
        if status != 200 or not token:
            raise BenchmarkError(f"GET {path} answered {status} without a form to sign in with")
        form = {"csrfmiddlewaretoken": token[1].decode(), **fields}
        status, headers, _ = self.request(path, form)
        return status, headers.get("Location", "")

    def sign_in(self, email: str, password: str, totp_secret: str) -> None:
        status, location = self.post_form(
            "/accounts/login/", {"login": email, "password": password}
        )
        if status != 302 or not location.startswith("/accounts/2fa/authenticate/"):
            raise BenchmarkError(
                f"sign-in of {email} answered {status} (Location: {location!r}); "
                "wrong e-mail or password, or no TOTP authenticator?"
            )
        for attempt in range(2):
            # allauth refuses a code used in the last 30 s (a rerun): then wait for the next one.
            status, location = self.post_form(
                "/accounts/2fa/authenticate/", {"code": totp_code(totp_secret)}
            )
            if status == 302:
                break
            if attempt == 0:
                time.sleep(30.5 - time.time() % 30)
        else:
            raise BenchmarkError(f"the TOTP code was refused ({status}); is --totp-secret right?")
        me = json.loads(
            fetch(self.opener, f"{self.base_url}/api/v1/me/", self.headers, self.timeout)
        )
        if me.get("email") != email:
            raise BenchmarkError(f"signed in, but /api/v1/me/ says {me!r}")


def register_numbers(browser: Browser) -> list[str]:
    body = fetch(
        browser.opener,
        f"{browser.base_url}/api/v1/registry/patients/",
        browser.headers,
        browser.timeout,
    )
    numbers = [p["register_number"] for p in json.loads(body).get("results", [])]
    if not numbers:
        raise BenchmarkError("the clinician sees no patients; load some with create_demo_data")
    return numbers


def main(argv=None) -> int:
    parser = argument_parser(__doc__)
    parser.add_argument("--email", default=CLINICIAN_EMAIL)
    parser.add_argument("--password", default=CLINICIAN_PASSWORD)
    parser.add_argument("--totp-secret", default=CLINICIAN_TOTP_SECRET)
    parser.add_argument("--surname", default="Hansen", help="name to search for (default Hansen)")
    parser.add_argument(
        "--register-numbers",
        type=lambda text: text.split(","),
        default=None,
        help="comma-separated patients for the patient page",
    )
    args = parser.parse_args(argv)
    try:
        base_url = check_base_url(args.base_url)
        browser = Browser(base_url, args.timeout)
        browser.sign_in(args.email, args.password, args.totp_secret)
        numbers = args.register_numbers or register_numbers(browser)
        pages = [
            ("patient list", "/registry/", {}),
            ("name search", f"/registry/?q={urllib.parse.quote(args.surname)}", {}),
            ("patient page", [f"/registry/patients/{n}/" for n in numbers], {}),
            ("API patient list", "/api/v1/registry/patients/", {}),
        ]
        print(f"signed in as {args.email}; {len(numbers)} patients for the patient page")
        print_table(base_url, pages, args, target_p95_ms=TARGET_P95_MS, headers=browser.headers)
        # The floor under the same clients and workers: a static file (gunicorn, WhiteNoise and
        # this client, no view) and the cheapest signed-in answer (session, member, second
        # factor and one COUNT), so a page's p95 reads against what any answer costs here.
        floors = [
            ("floor: static file", "/static/css/nbtc.css", {}),
            ("floor: signed-in count", "/api/v1/inbox/unread-count/", {}),
        ]
        print()
        print_table(base_url, floors, args, headers=browser.headers)
    except BenchmarkError as e:
        return fail("registry_latency", e)
    return 0


if __name__ == "__main__":
    sys.exit(main())
