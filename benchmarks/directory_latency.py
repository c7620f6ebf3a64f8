#!/usr/bin/env python3
"""p50/p95 latency of the Nordic directory's list, search and detail pages under concurrent clients.

    python benchmarks/directory_latency.py [--base-url http://127.0.0.1:8000] [--clients 20]
                                           [--requests 200] [--warmup 10]

For each page, --requests GETs are shared among --clients threads that start together; each
thread has its own opener (urllib opens a new connection per request: no keep-alive). Every
latency is the time to the last byte of the body. Any answer other than 200 (a redirect too)
stops the run with an error. Standard library only (shared code in _latency.py). Bounded:
loopback hosts only, a fixed number of requests, nothing runs after the table is printed.
`benchmarks/directory_latency.sh` sets up a production-like server and runs this against it.
"""

import json
import sys

from _latency import (
    BenchmarkError,
    argument_parser,
    check_base_url,
    fail,
    fetch,
    make_opener,
    print_table,
)


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


def main(argv=None) -> int:
    args = argument_parser(__doc__).parse_args(argv)
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
        print_table(base_url, pages, args)
    except BenchmarkError as e:
        return fail("directory_latency", e)
    return 0


if __name__ == "__main__":
    sys.exit(main())
