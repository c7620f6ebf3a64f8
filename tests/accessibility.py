"""axe-core in the browser tests: run the vendored axe-core (static/vendor/axe-core, from the
npm registry; nothing is fetched at run time) on the page Playwright has open, and walk every
page a member can reach.

axe-core's rules and impacts: https://github.com/dequelabs/axe-core/blob/develop/doc/rule-descriptions.md
Its "serious" and "critical" impacts are the barriers that stop a person (no name on a control,
text that cannot be read, a page that reloads under them); "moderate" and "minor" are reported
by the walk but do not fail it."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import urldefrag, urlsplit

from django.urls import Resolver404, URLPattern, URLResolver, get_resolver, resolve

from tests.conftest import REPO_ROOT

AXE_JS = REPO_ROOT / "static" / "vendor" / "axe-core" / "axe.min.js"
FAILING_IMPACTS = ("serious", "critical")
# WCAG 2.2 A and AA plus axe's best practices (landmarks, one main, heading order, ...):
# https://www.w3.org/TR/WCAG22/
AXE_OPTIONS = {
    "runOnly": {
        "type": "tag",
        "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"],
    },
    "resultTypes": ["violations"],
}

_axe_source: str | None = None


def axe_violations(page, impacts: Iterable[str] = FAILING_IMPACTS) -> list[dict]:
    """axe-core's violations on the open page with one of `impacts`, each as
    {"rule", "impact", "help", "nodes": [css target and HTML of each node]}. The script is
    evaluated through the DevTools protocol, which the page's Content Security Policy does
    not govern, so the page is tested as served (no policy relaxed for the test)."""
    global _axe_source
    if _axe_source is None:
        _axe_source = AXE_JS.read_text(encoding="utf-8")
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(_axe_source)
    found = page.evaluate("options => axe.run(document, options)", AXE_OPTIONS)["violations"]
    wanted = set(impacts)
    return [
        {
            "rule": v["id"],
            "impact": v["impact"],
            "help": v["help"],
            "nodes": [
                {"target": " ".join(map(str, n["target"])), "html": n["html"][:200]}
                for n in v["nodes"]
            ],
        }
        for v in found
        if v["impact"] in wanted
    ]


def describe(url: str, violations: list[dict]) -> str:
    lines = []
    for v in violations:
        for node in v["nodes"]:
            lines.append(f"{url}: {v['rule']} ({v['impact']}: {v['help']}) at {node['target']}")
            lines.append(f"    {node['html']}")
    return "\n".join(lines)


def page_routes() -> dict[str, str]:
    """{route name: route} of every page of the site read from the URLconf: the API (its
    docs page excepted), the admin site and the allauth flows that need a mailed key are
    not pages a member walks to."""
    found: dict[str, str] = {}

    def walk(patterns, prefix, namespace):
        for p in patterns:
            if isinstance(p, URLResolver):
                ns = f"{namespace}{p.namespace}:" if p.namespace else namespace
                walk(p.url_patterns, prefix + str(p.pattern), ns)
            elif isinstance(p, URLPattern) and p.name:
                route = prefix + str(p.pattern)
                if route.startswith(("api/v1/", "admin/", "api/schema/")):
                    continue
                found.setdefault(namespace + p.name, route)

    walk(get_resolver().url_patterns, "", "")
    return found


def route_name(path: str) -> str | None:
    try:
        match = resolve(path)
    except Resolver404:
        return None
    return match.view_name


_PARAMETER = re.compile(r"<[^>]+>|\(\?P<")


def has_parameters(route: str) -> bool:
    return bool(_PARAMETER.search(route)) or route.startswith("^") or "^" in route


@dataclass
class Walk:
    """What one member's walk saw: each page's URL by route name, and the violations."""

    visited: dict[str, str] = field(default_factory=dict)
    violations: dict[str, list[dict]] = field(default_factory=dict)
    minor: dict[str, list[dict]] = field(default_factory=dict)
    not_pages: dict[str, str] = field(default_factory=dict)


# Routes never opened by a walk: they act (sign-out, revoking a token), or they are the
# steps of a flow a walk cannot stand in (a mailed key, a code just sent).
NEVER_OPENED = {
    "account_logout",
    "account_confirm_login_code",
    "account_confirm_email",
    "account_reset_password_from_key",
    "account_reset_password_from_key_done",
    "mfa_authenticate",
    "mfa_download_recovery_codes",
}


_HREF = re.compile(r'href="([^"#]*)')


def walk_pages(page, base_url: str, *, limit: int = 150, instances: int = 4) -> Walk:
    """Open every page the signed-in member of `page` reaches and run axe-core on one URL of
    each route: the page routes without parameters in the URLconf first, then every link on
    the pages found (breadth first). Up to `instances` URLs of a route are fetched for their
    links (a request in another state links to other pages), the first of them opened in the
    browser and tested. A URL that answers anything but a whole HTML page (a download, a
    fragment, a redirect elsewhere, a refusal) is noted, not tested."""
    walk = Walk()
    queue = [
        "/" + route
        for name, route in page_routes().items()
        if not has_parameters(route) and name not in NEVER_OPENED
    ]
    seen_urls: set[str] = set()
    fetched: dict[str, int] = {}
    while queue and len(walk.visited) < limit:
        path = queue.pop(0)
        if path in seen_urls:
            continue
        seen_urls.add(path)
        bare = urlsplit(path).path
        if bare.startswith(("/api/v1/", "/admin/", "/api/schema/", "/static/")):
            continue
        name = route_name(bare)
        if name is None or name in NEVER_OPENED or fetched.get(name, 0) >= instances:
            continue
        fetched[name] = fetched.get(name, 0) + 1
        answer = page.request.get(base_url + path, max_redirects=0)
        content_type = answer.headers.get("content-type", "")
        if answer.status != 200 or not content_type.startswith("text/html"):
            if name not in walk.visited:
                walk.not_pages.setdefault(name, f"{path}: {answer.status} {content_type}")
            continue
        text = answer.text()
        if "<html" not in text[:500].lower():
            walk.not_pages.setdefault(name, f"{path}: a fragment")
            continue
        walk.not_pages.pop(name, None)
        queue.extend(
            href.replace("&amp;", "&") for href in _HREF.findall(text) if href.startswith("/")
        )
        if name in walk.visited:
            continue
        page.goto(base_url + path)
        page.wait_for_load_state("networkidle")
        walk.visited[name] = path
        found = axe_violations(page, impacts=("minor", "moderate", "serious", "critical"))
        failing = [v for v in found if v["impact"] in FAILING_IMPACTS]
        if failing:
            walk.violations[path] = failing
        if len(failing) < len(found):
            walk.minor[path] = [v for v in found if v["impact"] not in FAILING_IMPACTS]
        for href in page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)"):
            url, _ = urldefrag(href)
            if url.startswith(base_url):
                queue.append(url[len(base_url) :] or "/")
    return walk
