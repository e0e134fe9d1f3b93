"""Runs the public SCIM compliance suites against a running bridge and judges the results.

Used by .ci/compliance.sh (which starts the bridge); it can also be pointed at any
running bridge:

    .venv/bin/python .ci/compliance.py scim2-tester http://127.0.0.1:8080/scim/v2 --token T
    .venv/bin/python .ci/compliance.py scim-sanity  http://127.0.0.1:8080/scim/v2 --token T

Each subcommand prints every check, then the tolerated failures with the reason each is
tolerated, then the failures, and exits 1 if any failure is left. A failure is tolerated
only when it is listed below with its exact check name and the exact answer the bridge
gives: anything else the bridge answers for that check is still a failure.

--log FILE writes every request and response scim2-tester makes (scim-sanity's JSON
report already names each check's request and answer).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from typing import Any

BRIDGE_EXTENSION = "urn:scim-bridge:schemas:extension:bandwidth:2.0:User"


# ---------------------------------------------------------------------------------------
# scim2-tester


def tester_tolerated(result: Any) -> str | None:
    """Why a failed scim2-tester check is tolerated, or None when it is a real failure."""
    data = result.data if isinstance(result.data, dict) else {}
    error = data.get("error")
    # scim2-models types an extension container as readWrite whatever its attributes
    # say, so scim2-tester adds, replaces and removes the bridge's own extension as a
    # whole. Every attribute of it is readOnly (it reports Bandwidth's state), so RFC
    # 7643 §7 ("SHALL NOT be modified") and RFC 7644 §3.5.2 (400 "mutability") make the
    # refusal the right answer; accepting it could never satisfy the check anyway, as the
    # bridge fills the extension again on every read.
    if (
        result.title in ("check_add_attribute", "check_replace_attribute", "check_remove_attribute")
        and result.resource_type == "User"
        and data.get("urn") == BRIDGE_EXTENSION
        and type(error).__name__ == "MutabilityException"
    ):
        return (
            "the bridge's extension is read-only (every attribute readOnly): "
            "400 mutability is the RFC 7644 §3.5.2 answer"
        )
    reason = str(result.reason or "")
    # The Role and Entitlement resources list what the tenant's upstream can grant; they
    # are read-only (Okta's entitlements guide and draft-ietf-scim-roles-entitlements
    # only read them), so every check that starts by creating one is answered 405.
    if result.resource_type in ("Role", "Entitlement") and "method not allowed on this resource" in reason:
        return "Role and Entitlement resources are read-only: writes are 405 (the catalog comes from the upstream)"
    # scim2-tester fills a user's roles and entitlements with random strings. Each value
    # must name one of the tenant's /Roles or /Entitlements resources, and an unknown one
    # is refused with 400 invalidValue before any upstream call (issue: roles and
    # entitlements as SCIM resources).
    if result.resource_type == "User" and "is not one the tenant's upstream can grant" in reason:
        return "a random role or entitlement value is refused 400 invalidValue: values must name /Roles or /Entitlements"
    return None


def run_scim2_tester(url: str, token: str, log_path: str | None) -> int:
    from httpx2 import Client
    from scim2_client.engines.httpx2 import SyncSCIMClient
    from scim2_tester import check_server
    from scim2_tester.utils import Status

    log = open(log_path, "w", encoding="utf-8") if log_path else None

    def record(response: Any) -> None:
        if log is None:
            return
        response.read()
        request = response.request
        body = request.content.decode("utf-8", errors="replace")
        log.write(f">>> {request.method} {request.url}\n{body}\n")
        log.write(
            f"<<< {response.status_code} {response.headers.get('content-type')}\n"
            f"{response.text}\n\n"
        )
        log.flush()

    http = Client(
        base_url=url,
        headers={"Authorization": f"Bearer {token}"},
        timeout=60,
        event_hooks={"response": [record]},
    )
    results = check_server(SyncSCIMClient(http))

    failing = {Status.ERROR, Status.CRITICAL}
    counts: dict[str, int] = {}
    tolerated: list[tuple[Any, str]] = []
    failed: list[Any] = []
    for r in results:
        counts[r.status.name] = counts.get(r.status.name, 0) + 1
        line = f"{r.status.name:10} {r.resource_type or '-':6} {r.title}: {r.reason or ''}"
        print(line.replace("\n", " ")[:300])
        if r.status in failing:
            why = tester_tolerated(r)
            if why:
                tolerated.append((r, why))
            else:
                failed.append(r)
    if log is not None:
        log.close()

    print(f"\nscim2-tester: {len(results)} checks, {counts}")
    for r, why in tolerated:
        print(f"  tolerated: {r.resource_type} {r.title}: {why}")
    for r in failed:
        print(f"  FAILED: {r.resource_type} {r.title}: {r.reason}")
        print(f"          data: {repr(r.data)[:2000]}")
    skipped = counts.get(Status.SKIPPED.name, 0)
    passed = len(results) - len(failed) - len(tolerated) - skipped
    print(f"scim2-tester: {passed} passed, {len(failed)} failed, {skipped} skipped")
    return 1 if failed else 0


# ---------------------------------------------------------------------------------------
# scim-sanity

# The one check the bridge rightly fails: it adds the made-up member "fake-member-id" to a
# group, and RFC 7643 §4.2 makes members.value the id of an existing resource, so the
# bridge refuses it (400 invalidValue) instead of storing a dangling member.
FAKE_MEMBER_CHECK = "PATCH /Groups/{id} add member"


def sanity_tolerated(result: dict[str, Any]) -> str | None:
    name = result.get("name", "")
    message = result.get("message", "")
    if name == FAKE_MEMBER_CHECK and "got 400" in message:
        return "adds the made-up member 'fake-member-id'; refusing a member that does not exist is right"
    return None


def run_scim_sanity(url: str, token: str, report_path: str | None) -> int:
    exe = os.path.join(os.path.dirname(sys.executable), "scim-sanity")
    proc = subprocess.run(
        [exe, "probe", url, "--token", token, "--i-accept-side-effects", "--json-output"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    try:
        report = json.loads(proc.stdout)
    except ValueError:
        print(proc.stdout)
        print(proc.stderr, file=sys.stderr)
        print(f"scim-sanity: no JSON report (exit {proc.returncode})")
        return 1
    if report_path:
        with open(report_path, "w", encoding="utf-8") as f:
            json.dump(report, f, indent=2)

    tolerated: list[tuple[dict[str, Any], str]] = []
    failed: list[dict[str, Any]] = []
    results = report.get("results", [])
    for r in results:
        status = r.get("status", "")
        print(f"{status.upper():6} {r.get('name')}: {r.get('message', '')}".rstrip(": "))
        if status in ("fail", "error"):
            why = sanity_tolerated(r)
            if why:
                tolerated.append((r, why))
            else:
                failed.append(r)

    print(f"\nscim-sanity {report.get('scim_sanity_version')}: {report.get('summary')}")
    for r, why in tolerated:
        print(f"  tolerated: {r.get('name')}: {why}")
    for r in failed:
        print(f"  FAILED: {r.get('name')}: {r.get('message', '')} {r.get('details', '')}")
    passed = sum(1 for r in results if r.get("status") in ("pass", "warn"))
    skipped = sum(1 for r in results if r.get("status") == "skip")
    print(f"scim-sanity: {passed} passed, {len(failed)} failed, {skipped} skipped")
    return 1 if failed else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("suite", choices=["scim2-tester", "scim-sanity"])
    parser.add_argument("url", help="the SCIM base URL, e.g. http://127.0.0.1:8080/scim/v2")
    parser.add_argument("--token", required=True)
    parser.add_argument("--log", help="scim2-tester: request log; scim-sanity: JSON report")
    args = parser.parse_args()
    if args.suite == "scim2-tester":
        return run_scim2_tester(args.url, args.token, args.log)
    return run_scim_sanity(args.url, args.token, args.log)


if __name__ == "__main__":
    sys.exit(main())
