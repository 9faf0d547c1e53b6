//! End-to-end: an organization of three member accounts in moto, audited by the real binary
//! in Organizations mode, through the fault proxy (which refuses one member's AssumeRole).
//! In one invocation at concurrency 1 and 8, and fanned out as Step Functions would drive it.

use std::collections::BTreeMap;

use keywarden_e2e::organization::{create_account, create_organization, member, organizations};
use keywarden_e2e::proxy::{Intercept, Proxy};
use keywarden_e2e::{lambda, scenario, Moto, Watch};
use serde_json::{json, Value};

/// moto's default account: the organization's management account, the function's own.
const MANAGEMENT: &str = "123456789012";

struct Org {
    moto: Moto,
    /// (id, name) of each member, in creation order.
    members: Vec<(String, String)>,
}

/// Three members, each with a console user without MFA and a compliant-looking API user,
/// named after the account so a finding in the wrong account cannot pass for a right one.
async fn organization() -> Org {
    let moto = Moto::start();
    let endpoint = moto.endpoint();
    let org = organizations(&endpoint).await;
    create_organization(&org).await;
    let mut members = Vec::new();
    for name in ["workload-a", "workload-b", "workload-c"] {
        let id = create_account(&org, name).await;
        let aws = member(&endpoint, &id).await;
        let dev = format!("dev-{name}");
        aws.create_user(&dev).await;
        aws.create_login_profile(&dev).await;
        aws.create_user(&format!("svc-{name}")).await;
        members.push((id, name.to_string()));
    }
    Org { moto, members }
}

/// A proxy in front of moto that refuses AssumeRole into `denied` as STS does when the
/// role's trust does not admit the caller.
fn proxy(moto: &Moto, denied: &str) -> Proxy {
    let denied = format!("arn:aws:iam::{denied}:role/");
    Proxy::start(moto.port(), move |req| {
        let role = req.form_field("RoleArn").unwrap_or_default().replace("%3A", ":");
        if req.operation() == "AssumeRole" && role.starts_with(&denied) {
            Intercept::Refuse {
                status: 403,
                code: "AccessDenied".into(),
                message: format!("User is not authorized to perform: sts:AssumeRole on resource: {role}"),
            }
        } else {
            Intercept::Forward
        }
    })
}

fn env(moto: &Moto, proxy: &Proxy, extra: &[(&str, &str)]) -> BTreeMap<String, String> {
    let mut env = scenario::scenario_env(moto);
    env.insert("AWS_ENDPOINT_URL".into(), proxy.endpoint());
    env.insert("ORGANIZATION".into(), "true".into());
    for (k, v) in extra {
        env.insert((*k).into(), (*v).into());
    }
    env
}

/// The report with what differs between two runs of the same state taken out: run ids,
/// times, archive locations, and the API call counts, which follow IAM's state rather than
/// the account's (a credential report still fresh from the previous run costs one
/// `GenerateCredentialReport` less).
fn normalised(mut v: Value) -> Value {
    fn walk(v: &mut Value) {
        match v {
            Value::Object(map) => {
                for key in ["run_id", "generated_at", "archive", "page", "api_calls", "api_calls_total"] {
                    map.remove(key);
                }
                map.values_mut().for_each(walk);
            }
            Value::Array(items) => items.iter_mut().for_each(walk),
            _ => {}
        }
    }
    walk(&mut v);
    v
}

/// The JSON paths at which `a` and `b` differ (the first few), so a failure names them
/// instead of printing two whole reports.
fn differences(a: &Value, b: &Value, path: &str, out: &mut Vec<String>) {
    if out.len() >= 8 || a == b {
        return;
    }
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for k in keys {
                differences(
                    x.get(k).unwrap_or(&Value::Null),
                    y.get(k).unwrap_or(&Value::Null),
                    &format!("{path}/{k}"),
                    out,
                );
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (p, q)) in x.iter().zip(y).enumerate() {
                differences(p, q, &format!("{path}/{i}"), out);
            }
        }
        _ => out.push(format!("{path}: {} vs {}", cut(a), cut(b))),
    }
}

fn cut(v: &Value) -> String {
    v.to_string().chars().take(200).collect()
}

fn assert_same(a: Value, b: Value, what: &str) {
    let (a, b) = (normalised(a), normalised(b));
    let mut out = Vec::new();
    differences(&a, &b, "", &mut out);
    assert!(out.is_empty(), "{what}; they differ at:\n{}", out.join("\n"));
}

fn entry<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["accounts"]
        .as_array()
        .and_then(|a| a.iter().find(|e| e["id"] == id))
        .unwrap_or_else(|| panic!("account {id} is not in the report: {report}"))
}

fn findings_of(entry: &Value, check: &str) -> Vec<String> {
    entry["report"]["findings"]
        .as_array()
        .map(|f| {
            f.iter()
                .filter(|f| f["check"] == check)
                .filter_map(|f| f["resource"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn each_member_is_audited_in_its_own_account_and_a_denied_one_is_reported_alone() {
    let org = organization().await;
    let denied = org.members[1].0.clone();
    let proxy = proxy(&org.moto, &denied);
    for b in ["kw-one", "kw-eight", "kw-fanout"] {
        keywarden_e2e::seed::create_bucket(&org.moto.endpoint(), b).await;
    }

    let one =
        Watch::start(&env(&org.moto, &proxy, &[("ACCOUNT_CONCURRENCY", "1"), ("REPORT_BUCKET", "kw-one")]));
    let in_process = one.invoke(&lambda::event("events/scheduled.json")).report();
    drop(one);

    assert_eq!(in_process["kind"], "organization");
    let mut ids: Vec<String> = org.members.iter().map(|(id, _)| id.clone()).collect();
    ids.push(MANAGEMENT.into());
    ids.sort();
    let listed: Vec<String> = in_process["accounts"]
        .as_array()
        .map(|a| a.iter().filter_map(|e| e["id"].as_str().map(String::from)).collect())
        .unwrap_or_default();
    assert_eq!(listed, ids, "the management account and the three members, by id");
    for (id, name) in &org.members {
        let e = entry(&in_process, id);
        if *id == denied {
            assert_eq!(e["status"], "failed", "{e}");
            assert_eq!(e["error"]["operation"], "sts:AssumeRole", "{e}");
            assert_eq!(e["error"]["code"], "AccessDenied", "{e}");
            continue;
        }
        assert_eq!(e["status"], "audited", "{e}");
        assert_eq!(e["report"]["account_id"], id.as_str(), "audited under its own account id");
        assert_eq!(
            findings_of(e, "console_user_without_mfa"),
            [format!("arn:aws:iam::{id}:user/dev-{name}")]
        );
        assert_eq!(
            e["report"]["summary"]["api_calls"]["sts:AssumeRole"], 1,
            "its own calls, the AssumeRole included"
        );
        assert!(
            e["report"]["archive"].as_str().is_some_and(|a| a.starts_with(&format!("s3://kw-one/{id}/"))),
            "{e}"
        );
        assert!(
            e["report"]["page"].as_str().is_some_and(|a| a.starts_with(&format!("s3://kw-one/{id}/"))),
            "each member's page beside its report: {e}"
        );
    }
    // The function's own account is read with its own credentials, not a role it lacks.
    let own = entry(&in_process, MANAGEMENT);
    assert_eq!(own["status"], "audited", "{own}");
    assert!(own["report"]["summary"]["api_calls"].get("sts:AssumeRole").is_none(), "{own}");
    assert_eq!(in_process["summary"]["failed"], 1);
    assert_eq!(in_process["summary"]["audited"], 3);
    // Only the audit role was asked for: ROTATION_MODE is not enforce.
    let roles: Vec<String> = proxy
        .log()
        .iter()
        .filter(|e| e.operation == "AssumeRole")
        .map(|e| e.target.clone().unwrap_or_default())
        .collect();
    assert_eq!(roles.len(), 3, "one AssumeRole per member: {roles:?}");

    let eight =
        Watch::start(&env(&org.moto, &proxy, &[("ACCOUNT_CONCURRENCY", "8"), ("REPORT_BUCKET", "kw-eight")]));
    let concurrent = eight.invoke(&lambda::event("events/scheduled.json")).report();
    drop(eight);
    assert_eq!(
        normalised(concurrent),
        normalised(in_process.clone()),
        "concurrency 1 and 8 give the same report"
    );

    // The fan-out, driven as the state machine would: list, one item per account, aggregate.
    let fan = Watch::start(&env(&org.moto, &proxy, &[("REPORT_BUCKET", "kw-fanout")]));
    let items = fan.invoke(&lambda::event("events/list-accounts.json")).report();
    let run_id = items["run_id"].clone();
    let accounts = items["accounts"].as_array().cloned().unwrap_or_default();
    assert_eq!(accounts.len(), 4, "{items}");
    for account in accounts {
        let item = json!({"action": "audit-account", "run_id": run_id, "account": account});
        let out = fan.invoke_json(&item).report();
        assert!(out["stored"].as_str().is_some_and(|s| s.starts_with("s3://kw-fanout/runs/")), "{out}");
    }
    let aggregated = fan.invoke_json(&json!({"action": "aggregate", "run_id": run_id})).report();
    assert_eq!(aggregated["run_id"], run_id);
    assert!(
        aggregated["archive"].as_str().is_some_and(|a| a.starts_with("s3://kw-fanout/organization/")),
        "{aggregated}"
    );
    assert_same(aggregated, in_process, "the fan-out gives the in-process report");
}
