#!/usr/bin/env python3
"""Reads every user the way Okta's import and Entra's first cycle do: GET /Users with
startIndex 1, 1 + count, ... on one keep-alive connection until a page comes back short.
First and last page latencies are the medians of five pages each.

    python3 bench/full_list.py BRIDGE_URL TOKEN EXPECTED [COUNT]

Prints one line `RESULT pages=.. users=.. first_ms=.. last_ms=.. total_s=..` and fails if
a user is missing or repeated, or a page is not 200.
"""
import http.client
import json
import statistics
import sys
import time
from urllib.parse import urlparse


def main():
    url, token, expected = sys.argv[1], sys.argv[2], int(sys.argv[3])
    count = int(sys.argv[4]) if len(sys.argv) > 4 else 100
    parsed = urlparse(url)
    conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=60)
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/scim+json"}
    seen = set()
    latencies = []
    start_index = 1
    began = time.perf_counter()
    while True:
        t0 = time.perf_counter()
        conn.request("GET", f"/scim/v2/Users?startIndex={start_index}&count={count}", headers=headers)
        response = conn.getresponse()
        body = response.read()
        latencies.append(time.perf_counter() - t0)
        if response.status != 200:
            sys.exit(f"page at {start_index}: HTTP {response.status}: {body[:300]!r}")
        page = json.loads(body)
        ids = [r["id"] for r in page.get("Resources", [])]
        repeated = seen.intersection(ids)
        if repeated:
            sys.exit(f"page at {start_index} repeats {sorted(repeated)[:5]}")
        seen.update(ids)
        start_index += len(ids)
        if len(ids) < count:
            break
    total = time.perf_counter() - began
    if len(seen) != expected:
        sys.exit(f"read {len(seen)} users, expected {expected}")
    # Medians of the first five pages and of the last five full ones (the final page
    # may be short or empty), so one scheduling hiccup does not decide the ratio.
    full = latencies[:-1] if len(latencies) > 1 else latencies
    first, last = statistics.median(full[:5]), statistics.median(full[-5:])
    print(
        f"RESULT pages={len(latencies)} users={len(seen)} first_ms={first * 1000:.1f} "
        f"last_ms={last * 1000:.1f} ratio={last / first:.2f} total_s={total:.1f}"
    )


if __name__ == "__main__":
    main()
