"""axe-core in the browser tests: run the vendored axe-core (static/vendor/axe-core, from the
npm registry; nothing is fetched at run time) on the page Playwright has open, and walk every
page a member can reach.

axe-core's rules and impacts: https://github.com/dequelabs/axe-core/blob/develop/doc/rule-descriptions.md
Its "serious" and "critical" impacts are the barriers that stop a person (no name on a control,
text that cannot be read, a page that reloads under them); "moderate" and "minor" are reported
by the walk but do not fail it."""

from __future__ import annotations

import random
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

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
    ambiguous: dict[str, dict[str, list[str]]] = field(default_factory=dict)
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


def walk_pages(
    page, base_url: str, *, start: list[str] = (), limit: int = 150, instances: int = 10
) -> Walk:
    """Open every page the signed-in member of `page` reaches and run axe-core on one URL of
    each route: the page routes without parameters in the URLconf first, then every link on
    the pages found. A route not yet opened goes first; then more URLs of the routes already
    opened (a request in another state links to other pages) are fetched for their links,
    the least fetched route first and a random one of its URLs (seeded: the same walk each
    run), up to `instances` of a route and until six in a row bring no new route. A URL that
    answers anything but a whole HTML page (a download, a fragment, a redirect elsewhere, a
    refusal) is noted, not tested."""
    walk = Walk()
    chance = random.Random(18)  # noqa: S311 - picks which URL to try, not a secret
    pending: dict[str, list[str]] = {}  # route name: its URLs not fetched yet
    seen_urls: set[str] = set()
    fetched: dict[str, int] = {}
    fruitless: dict[str, int] = {}

    def enqueue(paths) -> bool:
        new_route = False
        for path in paths:
            bare = urlsplit(path).path
            if path in seen_urls or bare.startswith(_NOT_WALKED_PREFIXES):
                continue
            name = route_name(bare)
            if name is None or name in NEVER_OPENED:
                continue
            seen_urls.add(path)
            new_route |= name not in pending
            pending.setdefault(name, []).append(path)
        return new_route

    def next_url() -> tuple[str, str] | None:
        open_routes = [
            name
            for name, urls in pending.items()
            if urls and fetched.get(name, 0) < instances and fruitless.get(name, 0) < 6
        ]
        if not open_routes:
            return None
        # Routes never fetched first (in the order met), then the least fetched.
        name = min(open_routes, key=lambda n: fetched.get(n, 0))
        urls = pending[name]
        return name, urls.pop(0 if not fetched.get(name) else chance.randrange(len(urls)))

    enqueue(
        "/" + route
        for name, route in page_routes().items()
        if not has_parameters(route) and name not in NEVER_OPENED
    )
    enqueue(start)
    while len(walk.visited) < limit and (chosen := next_url()):
        name, path = chosen
        fetched[name] = fetched.get(name, 0) + 1
        answer = page.request.get(base_url + path, max_redirects=0)
        content_type = answer.headers.get("content-type", "")
        if answer.status != 200 or not content_type.startswith("text/html"):
            if name not in walk.visited:
                walk.not_pages.setdefault(name, f"{path}: {answer.status} {content_type}")
            fruitless[name] = fruitless.get(name, 0) + 1
            continue
        text = answer.text()
        if "<html" not in text[:500].lower():
            walk.not_pages.setdefault(name, f"{path}: a fragment")
            fruitless[name] = instances
            continue
        walk.not_pages.pop(name, None)
        links = (h.replace("&amp;", "&") for h in _HREF.findall(text) if h.startswith("/"))
        fruitless[name] = 0 if enqueue(links) else fruitless.get(name, 0) + 1
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
        if same_names := ambiguous_controls(page):
            walk.ambiguous[path] = same_names
    return walk


_NOT_WALKED_PREFIXES = ("/api/v1/", "/admin/", "/api/schema/", "/static/")


# The same name on controls that act on different things: "Edit", "Edit", "Edit" tell a
# screen-reader user, who lists a page's links by name, nothing (WCAG 2.2 2.4.4 Link
# Purpose (In Context), https://www.w3.org/TR/WCAG22/#link-purpose-in-context).
_CONTROL_TARGETS = """() => {
  const name = e => (e.getAttribute('aria-label') || e.textContent).trim().replace(/\\s+/g, ' ');
  const found = [];
  for (const a of document.querySelectorAll('main a[href]')) {
    found.push([name(a), a.href.split('#')[0] + (a.hash || '')]);
  }
  for (const b of document.querySelectorAll('main button')) {
    const form = b.form;
    if (!form || b.type !== 'submit') continue;
    const fields = [...form.querySelectorAll('input[type=hidden]')]
      .filter(i => i.name !== 'csrfmiddlewaretoken' && i.name !== 'version')
      .map(i => i.name + '=' + i.value);
    found.push([name(b), form.action + '?' + fields.join('&') + (b.name ? '&' + b.name : '')]);
  }
  return found;
}"""


def ambiguous_controls(page) -> dict[str, list[str]]:
    """{name: its different targets} of the links and submit buttons in the page's main
    content that share a name but act on different things."""
    targets: dict[str, set[str]] = {}
    for name, target in page.evaluate(_CONTROL_TARGETS):
        targets.setdefault(name, set()).add(target)
    return {name: sorted(t) for name, t in targets.items() if len(t) > 1}
