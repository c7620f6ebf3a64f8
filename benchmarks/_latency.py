"""What the latency benchmarks share: loopback-only HTTP without redirects or proxies, a
page run by concurrent client threads, and the table of p50/p95/max latency and req/s.

Standard library only. Each benchmark script (directory_latency.py, registry_latency.py)
imports this module from its own folder, names its pages and prints the table.
"""

import argparse
import math
import socket
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


def send(opener, url: str, headers: dict, timeout: float, data: bytes | None = None):
    """GET (or POST `data`) and return (status, headers, body), redirects included."""
    # check_base_url allows http(s) on loopback only, so no file: or other scheme is opened.
    headers = {"User-Agent": "nbtc-benchmark", **headers}
    request = urllib.request.Request(url, data=data, headers=headers)  # noqa: S310 - see above
    try:
        with opener.open(request, timeout=timeout) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()
    except (urllib.error.URLError, OSError) as e:
        raise BenchmarkError(f"{request.get_method()} {url} failed: {e}") from None


def fetch(opener, url: str, headers: dict, timeout: float) -> bytes:
    """GET a page that must answer 200."""
    status, answer_headers, body = send(opener, url, headers, timeout)
    if status != 200:
        location = answer_headers.get("Location")
        raise BenchmarkError(
            f"GET {url} answered {status}" + (f" (Location: {location})" if location else "")
        )
    return body


def request_bytes(url: str, headers: dict) -> tuple[tuple[str, int], bytes]:
    """(host, port) and the bytes of a GET of `url` with `headers`, built once per URL."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "http":
        raise BenchmarkError(f"the measured requests go over plain http on loopback, not {url}")
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    lines = [f"GET {path} HTTP/1.1", f"Host: {parts.netloc}", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in {"User-Agent": "nbtc-benchmark", **headers}.items()]
    return (parts.hostname, parts.port or 80), ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def fetch_lean(address: tuple[str, int], request: bytes, url: str, timeout: float) -> int:
    """One measured GET over a raw socket: the whole answer read, its status 200 and its
    body as long as its Content-Length checked; returns the body's length. urllib costs the
    client some 5 ms of CPU per request, taken from the same two cores as the server's
    workers; this costs a tenth of that, so the figure is the server's (README: Benchmarks)."""
    try:
        with socket.create_connection(address, timeout=timeout) as s:
            s.sendall(request)
            chunks = []
            while chunk := s.recv(262144):
                chunks.append(chunk)
    except OSError as e:
        raise BenchmarkError(f"GET {url} failed: {e}") from None
    answer = b"".join(chunks)
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    status = int(status_line.split(" ", 2)[1]) if status_line.startswith("HTTP/1.") else 0
    if status != 200:
        raise BenchmarkError(f"GET {url} answered {status or status_line!r}")
    length = next(
        (
            int(v)
            for k, _, v in (h.partition(":") for h in header_lines)
            if k.strip().lower() == "content-length"
        ),
        None,
    )
    if length is not None and length != len(body):
        raise BenchmarkError(f"GET {url}: {len(body)} of {length} bytes read")
    return len(body)


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def run_page(
    urls: str | list[str],
    headers: dict,
    *,
    clients: int,
    requests: int,
    warmup: int,
    timeout: float,
) -> dict:
    """--requests GETs shared among threads that start together; with several URLs each
    request takes the next one in turn (say, a different patient each time)."""
    urls = [urls] if isinstance(urls, str) else urls
    warm = make_opener()
    for i in range(warmup):
        fetch(warm, urls[i % len(urls)], headers, timeout)

    # Requests shared as evenly as possible; no thread gets none.
    clients = min(clients, requests)
    shares = [requests // clients + (1 if i < requests % clients else 0) for i in range(clients)]
    firsts = [sum(shares[:i]) for i in range(clients)]
    start_line = threading.Barrier(clients)
    failed = threading.Event()

    prepared = [request_bytes(url, headers) for url in urls]

    def client(first: int, count: int) -> list[float]:
        latencies = []
        start_line.wait()
        for i in range(first, first + count):
            if failed.is_set():
                break
            address, request = prepared[i % len(urls)]
            began = time.perf_counter()
            try:
                fetch_lean(address, request, urls[i % len(urls)], timeout)
            except BenchmarkError:
                failed.set()
                raise
            latencies.append(time.perf_counter() - began)
        return latencies

    began = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        futures = [
            pool.submit(client, first, count) for first, count in zip(firsts, shares, strict=True)
        ]
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


def argument_parser(doc: str) -> argparse.ArgumentParser:
    """The options every benchmark takes; a script adds its own."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--base-url", default="http://127.0.0.1:8000")
    parser.add_argument(
        "--clients",
        type=positive(MAX_CLIENTS),
        default=20,
        help="concurrent client threads (default 20)",
    )
    parser.add_argument(
        "--requests",
        type=positive(MAX_REQUESTS),
        default=200,
        help="measured requests per page (default 200)",
    )
    parser.add_argument(
        "--warmup",
        type=int,
        choices=range(0, 1001),
        default=10,
        metavar="N",
        help="unmeasured requests per page first (default 10)",
    )
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per request")
    return parser


def print_table(
    base_url: str,
    pages: list[tuple],
    args,
    *,
    target_p95_ms: float | None = None,
    headers: dict | None = None,
) -> None:
    """Run each (name, path or paths, headers) page and print one row per page as it ends;
    with a target, each row says whether its p95 meets it."""
    print(
        f"{base_url}: {args.clients} clients, {args.requests} requests per page "
        f"after {args.warmup} warm-up requests\n"
    )
    target = f"p95 < {target_p95_ms:g} ms" if target_p95_ms else ""
    header = (
        f"{'page':<24} {'path':<34} {'requests':>8} {'clients':>7} "
        f"{'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'req/s':>8}"
        + (f" {target:>14}" if target else "")
    )
    print(header)
    print("-" * len(header))
    for name, paths, page_headers in pages:
        urls = [base_url + p for p in paths] if isinstance(paths, list) else base_url + paths
        row = run_page(
            urls,
            {**(headers or {}), **page_headers},
            clients=args.clients,
            requests=args.requests,
            warmup=args.warmup,
            timeout=args.timeout,
        )
        shown = paths if isinstance(paths, str) else f"{paths[0]} (+{len(paths) - 1})"
        verdict = ("yes" if row["p95"] < target_p95_ms else "NO") if target else ""
        print(
            f"{name:<24} {shown:<34} {row['requests']:>8} {row['clients']:>7} "
            f"{row['p50']:>8.1f} {row['p95']:>8.1f} {row['max']:>8.1f} {row['rps']:>8.1f}"
            + (f" {verdict:>14}" if target else ""),
            flush=True,
        )


def fail(program: str, error: BenchmarkError) -> int:
    print(f"{program}: error: {error}", file=sys.stderr)
    return 1
