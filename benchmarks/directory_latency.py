#!/usr/bin/env python3
"""p50/p95 latency of the Nordic directory's list, search and detail pages under concurrent clients.

    python benchmarks/directory_latency.py [--base-url http://127.0.0.1:8000] [--clients 20]
                                           [--requests 200] [--warmup 10]

For each page, --requests GETs are shared among --clients threads that start together; each
thread has its own opener (urllib opens a new connection per request: no keep-alive). Every
latency is the time to the last byte of the body. Any answer other than 200 (a redirect too)
stops the run with an error. Standard library only. Bounded: loopback hosts only, a fixed
number of requests, nothing runs after the table is printed.
`benchmarks/directory_latency.sh` sets up a production-like server and runs this against it.
"""

import argparse
import json
import math
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor

LOOPBACK = {"127.0.0.1", "localhost", "::1"}
MAX_CLIENTS = 200
MAX_REQUESTS = 100_000


class BenchmarkError(Exception):
    pass


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect (say to HTTPS, or to a sign-in page) is an answer we did not ask for."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


def make_opener() -> urllib.request.OpenerDirector:
    # An empty ProxyHandler: loopback requests never go through an http_proxy from the environment.
    return urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect())


def fetch(opener, url: str, headers: dict, timeout: float) -> bytes:
    request = urllib.request.Request(url, headers={"User-Agent": "nbtc-benchmark", **headers})
    try:
        with opener.open(request, timeout=timeout) as response:
            body = response.read()
            status = response.status
    except urllib.error.HTTPError as e:
        location = e.headers.get("Location")
        raise BenchmarkError(
            f"GET {url} answered {e.code}" + (f" (Location: {location})" if location else "")
        ) from None
    except (urllib.error.URLError, OSError) as e:
        raise BenchmarkError(f"GET {url} failed: {e}") from None
    if status != 200:
        raise BenchmarkError(f"GET {url} answered {status}")
    return body


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def first_group_path(base_url: str, timeout: float) -> str:
    body = fetch(make_opener(), f"{base_url}/api/v1/directory/groups/", {}, timeout)
    try:
        results = json.loads(body)["results"]
        path = results[0]["url"]
    except (ValueError, KeyError, IndexError, TypeError) as e:
        raise BenchmarkError(
            f"/api/v1/directory/groups/ lists no group ({e!r}); import the directory first"
        ) from None
    if not path.startswith("/directory/"):
        raise BenchmarkError(f"unexpected group url from the API: {path!r}")
    return path


def run_page(url: str, headers: dict, *, clients: int, requests: int, warmup: int,
             timeout: float) -> dict:
    warm = make_opener()
    for _ in range(warmup):
        fetch(warm, url, headers, timeout)

    # Requests shared as evenly as possible; no thread gets none.
    clients = min(clients, requests)
    shares = [requests // clients + (1 if i < requests % clients else 0) for i in range(clients)]
    start_line = threading.Barrier(clients)
    failed = threading.Event()

    def client(count: int) -> list[float]:
        opener = make_opener()
        latencies = []
        start_line.wait()
        for _ in range(count):
            if failed.is_set():
                break
            began = time.perf_counter()
            try:
                fetch(opener, url, headers, timeout)
            except BenchmarkError:
                failed.set()
                raise
            latencies.append(time.perf_counter() - began)
        return latencies

    began = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        futures = [pool.submit(client, count) for count in shares]
        latencies = []
        for future in futures:
            latencies.extend(future.result())  # re-raises the first failure
    elapsed = time.perf_counter() - began

    latencies.sort()
    return {
        "requests": len(latencies),
        "clients": clients,
        "p50": percentile(latencies, 50) * 1000,
        "p95": percentile(latencies, 95) * 1000,
        "max": latencies[-1] * 1000,
        "rps": len(latencies) / elapsed,
    }


def check_base_url(base_url: str) -> str:
    parts = urllib.parse.urlsplit(base_url)
    if parts.scheme not in ("http", "https") or parts.hostname not in LOOPBACK:
        raise BenchmarkError(
            f"--base-url must be http(s) on a loopback host ({', '.join(sorted(LOOPBACK))}); "
            f"got {base_url!r}"
        )
    return base_url.rstrip("/")


def positive(limit: int):
    def parse(text: str) -> int:
        value = int(text)
        if not 1 <= value <= limit:
            raise argparse.ArgumentTypeError(f"must be between 1 and {limit}")
        return value

    return parse


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-url", default="http://127.0.0.1:8000")
    parser.add_argument("--clients", type=positive(MAX_CLIENTS), default=20,
                        help="concurrent client threads (default 20)")
    parser.add_argument("--requests", type=positive(MAX_REQUESTS), default=200,
                        help="measured requests per page (default 200)")
    parser.add_argument("--warmup", type=int, choices=range(0, 1001), default=10,
                        metavar="N", help="unmeasured requests per page first (default 10)")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per request")
    args = parser.parse_args(argv)

    try:
        base_url = check_base_url(args.base_url)
        detail = first_group_path(base_url, args.timeout)
        pages = [
            ("list", "/directory/", {}),
            ("search", "/directory/?q=cancer", {}),
            ("search (htmx partial)", "/directory/?q=cancer", {"HX-Request": "true"}),
            ("search + country", "/directory/?q=trial&country=NO", {}),
            ("detail", detail, {}),
        ]
        print(f"{base_url}: {args.clients} clients, {args.requests} requests per page "
              f"after {args.warmup} warm-up requests\n")
        header = (f"{'page':<24} {'path':<34} {'requests':>8} {'clients':>7} "
                  f"{'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'req/s':>8}")
        print(header)
        print("-" * len(header))
        for name, path, headers in pages:
            row = run_page(base_url + path, headers, clients=args.clients,
                           requests=args.requests, warmup=args.warmup, timeout=args.timeout)
            print(f"{name:<24} {path:<34} {row['requests']:>8} {row['clients']:>7} "
                  f"{row['p50']:>8.1f} {row['p95']:>8.1f} {row['max']:>8.1f} {row['rps']:>8.1f}",
                  flush=True)
    except BenchmarkError as e:
        print(f"directory_latency: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
