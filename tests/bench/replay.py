"""moto's own time for exactly the audit's calls, made by a tiny client.

Why it exists: `make bench` times the keywarden function against a seeded moto server
(tests/bench/seed_moto.py). Most of that wall time is moto (a Python server) rendering
XML for 5,000 users, not keywarden. This replays the same calls, counted per operation
as the function reported them, from a client that does next to nothing: raw http.client
on one connection kept alive where the server allows it (werkzeug, moto's server, answers
every request with `Connection: close`, so in practice one TCP connect per call, exactly
as for the function's SDK), sequential, Query-protocol form bodies with a fake SigV4
header (moto does not verify signatures), every body read in full and parsed only after
its timer stopped. The difference between the function's time and this is keywarden's.

    replay.py --endpoint http://127.0.0.1:5123 --calls '{"iam:GetCredentialReport": 1, ...}'

Prints one JSON object: the fastest of --runs runs (moto warms caches on first calls),
each run, and every count that could not be reproduced ("mismatch"), never faked.
Paginated calls follow Marker while IsTruncated; GetPolicy/GetPolicyVersion read the
AWS-managed policies attached in the GetAccountAuthorizationDetails answer; per-user
reads (ListAccessKeys, GetAccessKeyLastUsed, ListUserTags, GetUser) go to the users an
audit reads live: an active key due within 7 days of 90 by the credential report.
"""

import argparse
import base64
import csv
import http.client
import io
import json
import sys
import time
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone
from urllib.parse import urlencode, urlsplit

IAM_VERSION, STS_VERSION = "2010-05-08", "2011-06-15"
AWS_MANAGED = "arn:aws:iam::aws:policy/"
SIMPLE = {"iam:GetAccountSummary", "iam:GetAccountPasswordPolicy", "iam:GenerateCredentialReport",
          "iam:GetCredentialReport", "sts:GetCallerIdentity"}
PER_USER = ["iam:ListAccessKeys", "iam:GetAccessKeyLastUsed", "iam:ListUserTags", "iam:GetUser"]
# The order an audit makes them in; anything else counted is reported, not replayed.
ORDER = ["iam:GenerateCredentialReport", "iam:GetCredentialReport",
         "iam:GetAccountAuthorizationDetails", "iam:GetPolicy", "iam:GetPolicyVersion",
         "iam:ListVirtualMFADevices", "iam:GetAccountSummary", "iam:GetAccountPasswordPolicy",
         "sts:GetCallerIdentity"] + PER_USER


def local(tag):
    return tag.rsplit("}", 1)[-1]


def find(root, name):
    return next((e.text or "" for e in root.iter() if local(e.tag) == name), None)


class Client:
    """One keep-alive connection; times each call from sending it to its body's last byte."""

    def __init__(self, endpoint):
        url = urlsplit(endpoint)
        self.host, self.port = url.hostname, url.port or 80
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=600)
        self.connects = 0
        self.times = {}

    def call(self, op, params=None):
        service, action = op.split(":")
        body = urlencode({"Action": action, "Version": STS_VERSION if service == "sts" else IAM_VERSION,
                          **(params or {})})
        now = datetime.now(timezone.utc)
        headers = {
            "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
            "X-Amz-Date": now.strftime("%Y%m%dT%H%M%SZ"),
            "Authorization": f"AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/{now:%Y%m%d}/"
                             f"us-east-1/{service}/aws4_request, SignedHeaders=host;x-amz-date, "
                             "Signature=0",
        }
        if self.conn.sock is None:
            self.connects += 1
        started = time.perf_counter()
        self.conn.request("POST", "/", body=body, headers=headers)
        resp = self.conn.getresponse()
        data = resp.read()
        took = time.perf_counter() - started
        t = self.times.setdefault(op, {"calls": 0, "seconds": 0.0})
        t["calls"] += 1
        t["seconds"] += took
        if resp.status != 200:
            raise RuntimeError(f"{op} {params or ''}: HTTP {resp.status}: {data[:300]!r}")
        return ET.fromstring(data)

    def pages(self, op, want, params, mismatch):
        """Follow Marker while IsTruncated, at most `want` calls; returns every page."""
        out, marker = [], None
        while len(out) < want:
            root = self.call(op, {**params, **({"Marker": marker} if marker else {})})
            out.append(root)
            marker = find(root, "Marker") if find(root, "IsTruncated") == "true" else None
            if not marker:
                break
        if len(out) != want or marker:
            more = " and more pages exist" if marker else ""
            mismatch.append(f"{op}: counted {want} pages, made {len(out)}{more}")
        return out


def due_soon(report_csv, now):
    """keywarden's live-read candidates: an active key whose 90 days end within 7 days."""
    users = []
    for row in csv.DictReader(io.StringIO(report_csv)):
        for n in ("1", "2"):
            rotated = row[f"access_key_{n}_last_rotated"]
            if row[f"access_key_{n}_active"] == "true" and rotated not in ("N/A", ""):
                if datetime.fromisoformat(rotated.replace("Z", "+00:00")) + timedelta(days=83) <= now:
                    users.append(row["user"])
                    break
    return users


def run(endpoint, calls, mfa_max_items):
    c, mismatch, report, arns, versions = Client(endpoint), [], None, [], {}
    started = time.perf_counter()
    for op in ORDER:
        want = calls.get(op, 0)
        if not want:
            continue
        if op in SIMPLE:
            for _ in range(want):
                root = c.call(op)
                if op == "iam:GetCredentialReport":
                    report = base64.b64decode(find(root, "Content") or "").decode()
        elif op == "iam:GetAccountAuthorizationDetails":
            filters = {"Filter.member.1": "User", "Filter.member.2": "Group",
                       "Filter.member.3": "LocalManagedPolicy", "MaxItems": "1000"}
            for page in c.pages(op, want, filters, mismatch):
                for e in page.iter():
                    if local(e.tag) == "PolicyArn" and (e.text or "").startswith(AWS_MANAGED):
                        arns.append(e.text)
            arns = sorted(set(arns))
        elif op == "iam:ListVirtualMFADevices":
            c.pages(op, want, {"MaxItems": str(mfa_max_items)} if mfa_max_items else {}, mismatch)
        elif op == "iam:GetPolicy":
            for arn in arns[:want]:
                versions[arn] = find(c.call(op, {"PolicyArn": arn}), "DefaultVersionId")
            if want != len(arns):
                mismatch.append(f"{op}: counted {want}, {len(arns)} AWS-managed policies attached {arns}")
        elif op == "iam:GetPolicyVersion":
            done = [a for a in arns if a in versions][:want]
            for arn in done:
                c.call(op, {"PolicyArn": arn, "VersionId": versions[arn]})
            if want != len(done):
                mismatch.append(f"{op}: counted {want}, made {len(done)} (one per policy read)")
        elif op in PER_USER:
            if report is None:
                mismatch.append(f"{op}: counted {want}, made 0 (needs the credential report)")
                continue
            users = due_soon(report, datetime.now(timezone.utc))
            if op == "iam:GetAccessKeyLastUsed":  # the key ids come from ListAccessKeys, untimed
                targets = [{"AccessKeyId": k} for k in keys_of(endpoint, users, want)]
            else:
                targets = [{"UserName": u} for u in users]
            for params in targets[:want]:
                c.call(op, params)
            if want != len(targets[:want]):
                mismatch.append(f"{op}: counted {want}, only {len(targets)} targets (users due soon)")
    wall = time.perf_counter() - started
    for op, want in sorted(calls.items()):
        if op not in ORDER:
            mismatch.append(f"{op}: counted {want}, not replayed (no realistic parameters known)")
    total = sum(t["seconds"] for t in c.times.values())
    return {"total_seconds": round(total, 4), "wall_seconds": round(wall, 4), "connections": c.connects,
            "by_operation": {op: {"calls": t["calls"], "seconds": round(t["seconds"], 4)}
                             for op, t in c.times.items()}}, mismatch


def keys_of(endpoint, users, want):
    """Access key ids of `users`, first `want` of them, read on a side connection (untimed)."""
    side, ids = Client(endpoint), []
    for u in users:
        if len(ids) >= want:
            break
        root = side.call("iam:ListAccessKeys", {"UserName": u})
        ids += [e.text for e in root.iter() if local(e.tag) == "AccessKeyId"]
    return ids


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--calls", required=True, help="JSON object operation -> count, or @file")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--mfa-max-items", type=int, default=1000,
                    help="MaxItems of ListVirtualMFADevices; 0 sends none (moto then pages by 100, "
                         "as for an SDK paginator without a page size)")
    args = ap.parse_args()
    text = open(args.calls[1:]).read() if args.calls.startswith("@") else args.calls
    calls = {op: int(n) for op, n in json.loads(text).items()}
    runs, mismatch = [], []
    for _ in range(max(1, args.runs)):
        result, mismatch = run(args.endpoint, calls, args.mfa_max_items)
        runs.append(result)
    best = dict(min(runs, key=lambda r: r["total_seconds"]))
    for r in runs:  # each run in brief: its totals and seconds per operation
        r["by_operation"] = {op: t["seconds"] for op, t in r["by_operation"].items()}
    print(json.dumps({"total_seconds": best["total_seconds"], "by_operation": best["by_operation"],
                      "mismatch": mismatch, "runs": runs, "mfa_max_items": args.mfa_max_items or None}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
