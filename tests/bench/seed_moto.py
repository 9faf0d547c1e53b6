"""A seeded moto server for `make bench`: a realistic N-user IAM account, served over HTTP.

Why it exists: seeding 5,000 users through moto's HTTP API takes many minutes (tens of
thousands of signed requests), which would make the benchmark mostly seeding. This script
runs moto's ThreadedMotoServer in its own process and fills the very same in-process IAM
backend directly (moto's backend methods, then the dates set on the model objects), so
5,000 users take a couple of seconds. It then checks over HTTP that the server serves
what was seeded, writes one JSON line to --ready-file, and serves until SIGTERM/SIGINT.

Ages are relative to the real current UTC time (no faketime). The mix is deterministic
for a given --seed (moto's own random identifiers are seeded too). Exactly --due users are
due for rotation under keywarden's rule (one access key, active, older than 90 days, used
within 30 days, no tags, not in BreakGlass); every other single active key is at most 81
days old, so it is outside keywarden's 7-day warning window as well.

    seed_moto.py --users 5000 --due 500 --port 5123 --ready-file /tmp/ready.json

With --accounts N the server is an organization of N accounts (moto's default account as
its management account, and N - 1 members created through moto's Organizations backend),
each seeded as above with --users users and --due due: the organization bench.
"""

import argparse
import csv
import io
import json
import logging
import os
import random
import signal
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "true"  # AdministratorAccess must exist
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

import boto3  # noqa: E402
from moto.core import DEFAULT_ACCOUNT_ID  # noqa: E402
from moto.iam.models import AccessKeyLastUsed, iam_backends  # noqa: E402
from moto.moto_api._internal import mock_random  # noqa: E402
from moto.moto_server.threaded_moto_server import ThreadedMotoServer  # noqa: E402
from moto.organizations.models import organizations_backends  # noqa: E402
from moto.utilities.utils import PARTITION_NAMES  # noqa: E402

ACCOUNT = "123456789012"
POLICIES = Path(__file__).resolve().parents[2] / "crates" / "keywarden-core" / "policies"
ADMIN_ARN = "arn:aws:iam::aws:policy/AdministratorAccess"
PASSWORD = "Correct-Horse-Battery-9-Staple"
DEVELOPERS = {
    "Version": "2012-10-17",
    "Statement": [{
        "Sid": "ReadOnlyServices",
        "Effect": "Allow",
        "Action": ["ec2:Describe*", "s3:Get*", "s3:List*", "cloudwatch:Describe*",
                   "cloudwatch:Get*", "cloudwatch:List*", "logs:Describe*", "logs:Get*"],
        "Resource": "*",
    }],
}
READ_ONLY = {"Version": "2012-10-17",
             "Statement": [{"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "*"}]}
DAY = 86400


def ago(now, rng, lo_days, hi_days):
    """A naive-UTC datetime between lo_days and hi_days (inclusive, whole days + seconds) ago.
    moto keeps naive UTC datetimes (moto.core.utils.utcnow), so the seed does too."""
    return now - timedelta(days=rng.randint(lo_days, hi_days), seconds=rng.randrange(DAY))


def seed(iam, n, n_due, rng, now):
    mix = dict.fromkeys(["console", "password_used", "mfa_assigned", "mfa_unassigned", "team_path",
                         "keys_0", "keys_1", "keys_2", "keys_inactive", "keys_never_used",
                         "SelfEdit", "Developers", "Admins", "BreakGlass", "inline_user_policy",
                         "attached_user_policy"], 0)
    names = [f"user{i:05d}" for i in range(n)]
    # The shape of every user first, then the due users among the one-key ones.
    age = [rng.randint(30, 900) for _ in names]
    breakglass = set(rng.sample(range(n), min(2, n)))
    nkeys = [0 if i in breakglass else (0 if r < 0.25 else 1 if r < 0.80 else 2)
             for i, r in ((i, rng.random()) for i in range(n))]
    eligible = [i for i in range(n) if nkeys[i] == 1 and age[i] >= 92]
    if n_due > len(eligible):
        sys.exit(f"--due {n_due}: only {len(eligible)} one-key users are old enough to be due")
    due = set(rng.sample(eligible, n_due))
    total_keys = sum(nkeys)
    # ~15% of all keys inactive; due keys are all active, so the others carry the share.
    p_inactive = min(0.9, 0.15 * total_keys / max(1, total_keys - n_due))

    selfedit = iam.create_group("SelfEdit")
    iam.put_group_policy("SelfEdit", "self-service", (POLICIES / "self-service.json").read_text())
    developers = iam.create_group("Developers")
    iam.put_group_policy("Developers", "read-only-services", json.dumps(DEVELOPERS))
    admins = iam.create_group("Admins")
    iam.attach_group_policy(ADMIN_ARN, "Admins")
    breakglass_group = iam.create_group("BreakGlass")
    local = iam.create_policy("Read-only S3 objects", "/", json.dumps(READ_ONLY), "ReadOnlyLocal", [])

    for i, name in enumerate(names):
        path = "/team/" if rng.random() < 0.10 else "/"
        mix["team_path"] += path == "/team/"
        user = iam.create_user("us-east-1", name, path=path)
        user.create_date = created = now - timedelta(days=age[i], seconds=rng.randrange(DAY))
        if rng.random() < 0.60:
            mix["console"] += 1
            iam.create_login_profile(name, PASSWORD)
            if rng.random() < 0.80:
                user.password_last_used = ago(now, rng, 0, min(age[i] - 1, 365))
                mix["password_used"] += 1
            if rng.random() < 0.75:
                device = iam.create_virtual_mfa_device(name, "/")
                iam.enable_mfa_device(name, device.serial_number, "123456", "654321")
                enabled = ago(now, rng, 0, age[i] - 1)
                device.enable_date = user.mfa_devices[device.serial_number].enable_date = enabled
                mix["mfa_assigned"] += 1
        mix[f"keys_{nkeys[i]}"] += 1
        if i in due:
            key_ages = [rng.randint(91, min(700, age[i] - 1))]
        else:  # two keys: any age, the first one made first
            key_ages = sorted((rng.randint(1, min(700, age[i])) for _ in range(nkeys[i])), reverse=True)
        for key_age in key_ages:
            inactive = i not in due and rng.random() < p_inactive
            if i not in due and nkeys[i] == 1 and not inactive:
                key_age = rng.randint(1, 81)  # a single active key that is not due
            key = iam.create_access_key(name, status="Inactive" if inactive else "Active")
            key_created = max(created, now - timedelta(days=key_age, seconds=rng.randrange(DAY)))
            key.create_date = key_created  # the report's access_key_N_last_rotated
            mix["keys_inactive"] += inactive
            if i in due:
                used = ago(now, rng, 0, 28)
            elif rng.random() < 0.30:
                used = None
            else:
                used = ago(now, rng, 0, min(400, key_age))
            if used is not None and used < key_created:
                used = key_created + timedelta(seconds=rng.randrange(DAY))
            if used is None:
                mix["keys_never_used"] += 1
            else:  # the type GetAccessKeyLastUsed needs (it reads .timestamp/.region/.service)
                key.last_used = AccessKeyLastUsed(timestamp=used, service="s3", region="us-east-1")
        memberships = [(selfedit, 0.80), (developers, 0.40), (admins, 0.02)]
        for group, share in memberships:
            if rng.random() < share:
                group.users.append(user)  # what add_user_to_group does, without its O(n) check
                mix[group.name] += 1
        if i in breakglass:
            breakglass_group.users.append(user)
            mix["BreakGlass"] += 1
        if rng.random() < 0.01:
            iam.put_user_policy(name, "s3-read", json.dumps(READ_ONLY))
            mix["inline_user_policy"] += 1
        if rng.random() < 0.005:
            iam.attach_user_policy(local.arn, name)
            mix["attached_user_policy"] += 1
    for d in range(20):
        iam.create_virtual_mfa_device(f"spare{d:02d}", "/")
        mix["mfa_unassigned"] += 1
    iam.update_account_password_policy(
        allow_change_password=True, hard_expiry=False, max_password_age=90,
        minimum_password_length=14, password_reuse_prevention=24, require_lowercase_characters=True,
        require_numbers=True, require_symbols=True, require_uppercase_characters=True)
    return total_keys, mix


def due_in_report(iam, now):
    """Users due for rotation by moto's own rendering of the credential report."""
    exempt = {u.name for u in iam.groups["BreakGlass"].users}
    tagged = {name for name, u in iam.users.items() if u.tags}
    report = "".join(u.to_csv() for u in iam.users.values())  # what GetCredentialReport serves
    rows = csv.DictReader(io.StringIO(report), fieldnames=CSV_FIELDS)
    aware = now.replace(tzinfo=timezone.utc)
    due, warn = 0, 0
    for r in rows:
        one = r["access_key_1_last_rotated"] != "N/A" and r["access_key_2_last_rotated"] == "N/A"
        if not one or r["access_key_1_active"] != "true":
            continue
        key_age = aware - datetime.fromisoformat(r["access_key_1_last_rotated"])
        used = r["access_key_1_last_used_date"]
        recent = used != "N/A" and aware - datetime.fromisoformat(used) <= timedelta(days=30)
        if key_age > timedelta(days=90) and recent and r["user"] not in exempt | tagged:
            due += 1
        elif key_age >= timedelta(days=83):
            warn += 1
    return due, warn


CSV_FIELDS = ("user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,"
              "password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,"
              "access_key_1_last_used_date,access_key_1_last_used_region,access_key_1_last_used_service,"
              "access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,"
              "access_key_2_last_used_region,access_key_2_last_used_service,cert_1_active,"
              "cert_1_last_rotated,cert_2_active,cert_2_last_rotated").split(",")


def verify(port, n):
    iam = boto3.client("iam", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1")
    listed = sum(len(p["Users"]) for p in iam.get_paginator("list_users").paginate())
    gaad = sum(len(p["UserDetailList"]) for p in iam.get_paginator(
        "get_account_authorization_details").paginate(Filter=["User", "Group", "LocalManagedPolicy"]))
    if listed != n or gaad != n:
        sys.exit(f"the server serves {listed} users (ListUsers) and {gaad} (GAAD), not {n}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int, required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--ready-file", required=True)
    ap.add_argument("--due", type=int, default=300)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--accounts", type=int, default=0,
                    help="an organization of this many accounts, each seeded with --users users")
    ap.add_argument("--report-ready", action="store_true",
                    help="mark the credential report as generated, so the first "
                         "GenerateCredentialReport answers COMPLETE instead of STARTED")
    args = ap.parse_args()
    if DEFAULT_ACCOUNT_ID != ACCOUNT:
        sys.exit(f"moto's default account is {DEFAULT_ACCOUNT_ID} (MOTO_ACCOUNT_ID set?), not {ACCOUNT}")

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request on stderr
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=args.port, verbose=False)
    server.start()
    started = time.monotonic()
    mock_random.seed(args.seed)  # moto's key ids, user ids and MFA seeds
    rng = random.Random(args.seed)
    now = datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)  # whole seconds, like AWS
    accounts = [ACCOUNT]
    if args.accounts:
        org = organizations_backends[ACCOUNT]["aws"]
        org.create_organization(region="us-east-1", FeatureSet="ALL")
        for a in range(1, args.accounts):
            status = org.create_account(AccountName=f"workload-{a:03d}", Email=f"workload-{a:03d}@example.invalid")
            accounts.append(status["CreateAccountStatus"]["AccountId"])
    backends = 0.0
    total_keys, mix, iams = 0, {}, []
    for account in accounts:
        b = time.monotonic()
        iam = iam_backends[account]["aws"]  # moto's key is the partition ("aws"), not "global"
        for partition in PARTITION_NAMES:  # every request looks its key up in all of them
            iam_backends[account][partition]
        backends += time.monotonic() - b
        keys, account_mix = seed(iam, args.users, args.due, rng, now)
        total_keys += keys
        for k, v in account_mix.items():
            mix[k] = mix.get(k, 0) + v
        if args.report_ready:
            iam.generate_report()
        iams.append(iam)
    seconds = time.monotonic() - started
    for iam in iams:
        due, warn = due_in_report(iam, now)
        if due != args.due or warn:
            sys.exit(f"the credential report shows {due} users due (wanted {args.due}), {warn} in the warning window")
    due = args.due * len(accounts)
    verify_started = time.monotonic()
    verify(args.port, args.users)
    mfa_devices = sum(len(i.virtual_mfa_devices) for i in iams)
    print(f"seeded {args.users} users, {total_keys} keys, {due} due, {mfa_devices} virtual MFA devices "
          f"in {seconds:.2f} s ({backends:.2f} s of it moto's backends with the AWS-managed policies); verified over HTTP in {time.monotonic() - verify_started:.2f} s",
          file=sys.stderr, flush=True)

    ready = {"accounts": len(accounts), "users": args.users * len(accounts), "keys": total_keys, "due": due, "seconds": round(seconds, 3),
             "mfa_devices": mfa_devices, "port": args.port, "mix": mix}
    tmp = Path(args.ready_file + ".tmp")
    tmp.write_text(json.dumps(ready) + "\n")
    tmp.replace(args.ready_file)  # a poller never reads half a line

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    while not stop.wait(3600):
        pass
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
