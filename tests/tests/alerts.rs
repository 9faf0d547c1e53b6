//! End-to-end tests of the alerts ("Alerts" in `docs/ARCHITECTURE.md`): the real `keywarden` binary, run by
//! `cargo lambda watch`, publishing to an SNS topic in moto, with SQS queues subscribed to
//! that topic the way a SIEM or a team would subscribe, and the evidence archive in moto's S3.
//!
//! What moto does that these tests rely on (moto 5.2): a publish is delivered to every SQS
//! subscription at once, inside the `Publish` call, as the SNS envelope (`Type`,
//! `MessageId`, `Subject`, `Message`, `MessageAttributes` as `{Type, Value}`) unless the
//! subscription asks for raw delivery; with `MessageStructure=json` a queue gets the `sqs`
//! key of the message, else `default`; a subscription's `FilterPolicy` (scope
//! `MessageAttributes`) is matched against the message attributes and a message that does
//! not match is not delivered. moto delivers nothing to `email` subscriptions, so the
//! email text is read from what moto recorded as published (`/moto-api/data.json`), for the
//! very message the queues received (same message id).
//!
//! Every test starts its own moto and watch, and ends with the leak scan over the function's
//! log, every invocation, every message moto recorded and every message the queues received.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::path::Path;
use std::time::Instant;

use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::QueueAttributeName;
use chrono::{DateTime, Utc};
use keywarden_e2e::report::{assert_summary_consistent, findings};
use keywarden_e2e::scan::{assert_no_leak_in, function_output};
use keywarden_e2e::scenario::{self, TEAM_GROUP};
use keywarden_e2e::{workspace_root, Aws, Moto, Watch};
use serde_json::{json, Value};

/// moto's default account.
const ACCOUNT: &str = "123456789012";
const SCHEDULED: &str = "events/scheduled.json";
const BUCKET: &str = "keywarden-reports";
/// keywarden's own role, for the rotation test (the stored secret's policy names it).
const ROLE_ARN: &str = "arn:aws:iam::123456789012:role/keywarden";
/// Where the email text of one real digest is saved for the closing note.
const EMAIL_OUT: &str = "out/email-digest.txt";

/// Awaits an SDK call; a failure panics with the operation and the whole error chain.
async fn sdk<T, E>(what: impl std::fmt::Display, fut: impl Future<Output = Result<T, E>>) -> T
where
    E: std::error::Error,
{
    match fut.await {
        Ok(out) => out,
        Err(e) => panic!("{what}: {}", DisplayErrorContext(e)),
    }
}

/// An SQS queue subscribed to the alerts topic.
#[derive(Debug)]
struct Queue {
    name: String,
    url: String,
}

/// One message an SQS queue received from SNS: the envelope moto delivers.
#[derive(Debug, Clone)]
struct Delivered {
    queue: String,
    body: String,
    envelope: Value,
}

impl Delivered {
    fn field(&self, name: &str) -> &str {
        self.envelope[name]
            .as_str()
            .unwrap_or_else(|| panic!("SNS envelope in {} has no {name}: {}", self.queue, self.body))
    }

    fn message_id(&self) -> &str {
        self.field("MessageId")
    }

    fn subject(&self) -> &str {
        self.field("Subject")
    }

    /// The message as delivered to SQS: for a digest, the `default` JSON summary.
    fn message(&self) -> &str {
        self.field("Message")
    }

    /// A message attribute's string value (and checks it is typed `String`).
    fn attribute(&self, name: &str) -> Option<&str> {
        let attr = self.envelope["MessageAttributes"].get(name)?;
        assert_eq!(attr["Type"], "String", "attribute {name} of {}: {attr}", self.message_id());
        attr["Value"].as_str()
    }

    fn attributes(&self) -> BTreeMap<String, String> {
        self.envelope["MessageAttributes"]
            .as_object()
            .map(|o| {
                o.iter()
                    .map(|(k, v)| (k.clone(), v["Value"].as_str().unwrap_or_default().to_string()))
                    .collect()
            })
            .unwrap_or_default()
    }

    fn json(&self) -> Value {
        serde_json::from_str(self.message())
            .unwrap_or_else(|e| panic!("message {} is not JSON ({e}): {}", self.message_id(), self.message()))
    }
}

/// A message moto recorded as published to the topic (before any per-protocol choice).
#[derive(Debug, Clone)]
struct Published {
    id: String,
    message: String,
    subject: Option<String>,
    attributes: Value,
}

/// Every publish moto recorded, in order (`sent_notifications`: `[id, message, subject,
/// attributes, group id]`).
fn published(moto: &Moto) -> Vec<Published> {
    moto.sns_messages()
        .iter()
        .map(|n| Published {
            id: n[0].as_str().unwrap_or_else(|| panic!("recorded SNS message without an id")).to_string(),
            message: n[1]
                .as_str()
                .unwrap_or_else(|| panic!("recorded SNS message without a body"))
                .to_string(),
            subject: n[2].as_str().map(str::to_string),
            attributes: n[3].clone(),
        })
        .collect()
}

/// The `email` text of the digest that was published as `message_id`: what SNS sends to
/// the topic's email subscribers.
fn email_of(moto: &Moto, message_id: &str) -> String {
    let all = published(moto);
    let p = all
        .iter()
        .find(|p| p.id == message_id)
        .unwrap_or_else(|| panic!("moto recorded no message {message_id} (recorded: {})", all.len()));
    let structure: Value = serde_json::from_str(&p.message)
        .unwrap_or_else(|e| panic!("digest {message_id} was not published with MessageStructure=json: {e}"));
    let keys: BTreeSet<&str> =
        structure.as_object().map(|o| o.keys().map(String::as_str).collect()).unwrap_or_default();
    assert!(
        keys.contains("default") && keys.contains("email"),
        "a digest carries `default` and `email`: {keys:?}"
    );
    assert!(structure["default"].is_string(), "`default` is a string (the JSON summary as text)");
    structure["email"].as_str().unwrap_or_else(|| panic!("`email` of {message_id} is not text")).to_string()
}

/// moto, the harness's clients plus SQS and S3, and the alerts topic.
struct Rig {
    moto: Moto,
    aws: Aws,
    sqs: aws_sdk_sqs::Client,
    s3: aws_sdk_s3::Client,
    topic: String,
    started: Instant,
}

impl Rig {
    async fn start() -> Self {
        let started = Instant::now();
        let moto = Moto::start();
        let aws = Aws::connect(&moto.endpoint()).await;
        let config = keywarden_e2e::seed::sdk_config(&moto.endpoint(), "testing", "testing").await;
        let sqs = aws_sdk_sqs::Client::new(&config);
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&config).force_path_style(true).build(),
        );
        let topic = aws.create_topic("keywarden-alerts").await;
        Rig { moto, aws, sqs, s3, topic, started }
    }

    /// The scenarios' function environment, alerts to the topic, plus `extra`.
    fn env(&self, extra: &[(&str, &str)]) -> BTreeMap<String, String> {
        let mut env = scenario::scenario_env(&self.moto);
        env.insert("TOPIC_ARN".into(), self.topic.clone());
        for (k, v) in extra {
            env.insert((*k).into(), (*v).into());
        }
        env
    }

    /// Creates a queue and subscribes it to the topic (envelope delivery, the default),
    /// with `filter` as the subscription's filter policy on message attributes.
    async fn queue(&self, name: &str, filter: Option<Value>) -> Queue {
        let out = sdk(format!("CreateQueue {name}"), self.sqs.create_queue().queue_name(name).send()).await;
        let url = out.queue_url.unwrap_or_else(|| panic!("CreateQueue {name} returned no URL"));
        let attrs = sdk(
            format!("GetQueueAttributes {name}"),
            self.sqs
                .get_queue_attributes()
                .queue_url(&url)
                .attribute_names(QueueAttributeName::QueueArn)
                .send(),
        )
        .await;
        let arn = attrs
            .attributes
            .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
            .unwrap_or_else(|| panic!("queue {name} has no ARN"));
        let mut subscribe = self
            .aws
            .sns
            .subscribe()
            .topic_arn(&self.topic)
            .protocol("sqs")
            .endpoint(&arn)
            .return_subscription_arn(true);
        if let Some(filter) = &filter {
            subscribe = subscribe
                .attributes("FilterPolicy", filter.to_string())
                .attributes("FilterPolicyScope", "MessageAttributes");
        }
        let sub = sdk(format!("Subscribe {name}"), subscribe.send()).await;
        let sub_arn = sub.subscription_arn.unwrap_or_else(|| panic!("Subscribe {name} returned no ARN"));
        if let Some(filter) = &filter {
            // The filter policy really is on the subscription.
            let got = sdk(
                format!("GetSubscriptionAttributes {name}"),
                self.aws.sns.get_subscription_attributes().subscription_arn(&sub_arn).send(),
            )
            .await;
            let policy = got.attributes.and_then(|a| a.get("FilterPolicy").cloned()).unwrap_or_default();
            let policy: Value = serde_json::from_str(&policy)
                .unwrap_or_else(|e| panic!("FilterPolicy of {name} is not JSON ({e}): {policy}"));
            assert_eq!(&policy, filter, "filter policy of {name}");
        }
        Queue { name: name.to_string(), url }
    }

    /// Every message waiting in the queue, received and deleted. moto delivers inside the
    /// `Publish` call, so what an invocation published is there when the invocation returns.
    async fn drain(&self, queue: &Queue) -> Vec<Delivered> {
        let mut got = Vec::new();
        loop {
            let out = sdk(
                format!("ReceiveMessage {}", queue.name),
                self.sqs
                    .receive_message()
                    .queue_url(&queue.url)
                    .max_number_of_messages(10)
                    .wait_time_seconds(0)
                    .send(),
            )
            .await;
            let messages = out.messages.unwrap_or_default();
            if messages.is_empty() {
                return got;
            }
            for m in messages {
                let body = m.body.clone().unwrap_or_default();
                let envelope: Value = serde_json::from_str(&body).unwrap_or_else(|e| {
                    panic!("{} received a body that is not an SNS envelope ({e}): {body}", queue.name)
                });
                assert_eq!(envelope["Type"], "Notification", "{}: {body}", queue.name);
                assert_eq!(envelope["TopicArn"], self.topic.as_str(), "{}: {body}", queue.name);
                if let Some(handle) = &m.receipt_handle {
                    sdk(
                        format!("DeleteMessage {}", queue.name),
                        self.sqs.delete_message().queue_url(&queue.url).receipt_handle(handle).send(),
                    )
                    .await;
                }
                got.push(Delivered { queue: queue.name.clone(), body, envelope });
            }
        }
    }

    /// Drains the queue and asserts it received exactly `n` messages.
    async fn expect(&self, queue: &Queue, n: usize, why: &str) -> Vec<Delivered> {
        let got = self.drain(queue).await;
        let seen: Vec<String> = got
            .iter()
            .map(|d| format!("{} {:?} {:?}", d.message_id(), d.subject(), d.attributes()))
            .collect();
        assert_eq!(got.len(), n, "{}: {why}; received {seen:#?}", queue.name);
        got
    }

    /// Invokes and returns the report; fails with both logs when the invocation fails.
    fn run(&self, watch: &Watch, event: &str) -> Value {
        let inv = watch.invoke(Path::new(event));
        self.report(watch, inv, event)
    }

    fn run_json(&self, watch: &Watch, event: &Value) -> Value {
        let inv = watch.invoke_json(event);
        self.report(watch, inv, &event.to_string())
    }

    fn report(&self, watch: &Watch, inv: keywarden_e2e::Invocation, what: &str) -> Value {
        assert!(
            inv.success,
            "invoking {what} failed:\n{}\n{}\n{}",
            inv.output(),
            watch.log_tail(),
            self.moto.log_tail()
        );
        eprintln!("{what}: invocation took {:?}", inv.elapsed);
        let report = inv.json();
        assert_eq!(report["errors"], json!([]), "errors of {what}: {:#}", report["errors"]);
        assert_summary_consistent(&report);
        report
    }

    /// The leak scan: the function's log, every invocation, every message moto recorded,
    /// and `extra` (what the queues received, what was archived) hold no secret access key.
    async fn finish(&self, watch: &Watch, delivered: &[Delivered], extra: Vec<(String, String)>) {
        let mut texts = function_output(watch, &self.moto);
        for d in delivered {
            texts.push((format!("SQS {} message {}", d.queue, d.message_id()), d.body.clone()));
        }
        texts.extend(extra);
        assert_no_leak_in(&self.aws, &self.moto, &texts).await;
        eprintln!("{} of the scanned texts came from SQS", delivered.len());
        eprintln!("test took {:.1?}", self.started.elapsed());
    }
}

fn count(v: &Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

/// The subject the alerts design ("Alerts" in `docs/ARCHITECTURE.md`) asks for, from the report: high and critical counts, new ones.
fn expected_subject(report: &Value) -> String {
    let by = &report["summary"]["by_severity"];
    let parts: Vec<String> = ["critical", "high"]
        .iter()
        .filter(|s| count(&by[**s]) > 0)
        .map(|s| format!("{} {s}", count(&by[*s])))
        .collect();
    let mut subject = format!("keywarden {ACCOUNT}: ");
    if parts.is_empty() {
        subject.push_str(&format!(
            "{} open findings, none high or critical",
            count(&report["summary"]["findings"])
        ));
    } else {
        subject.push_str(&parts.join(", "));
    }
    if let Some(new) = report["changes"]["new"].as_array() {
        subject.push_str(&format!(" ({} new)", new.len()));
    }
    subject
}

/// Asserts a delivered digest is the one of `report`: the envelope's subject and attributes,
/// and the JSON summary's schema, counts, findings, actions, changes and archive. Returns the
/// email text of the same published message.
fn assert_digest_of(moto: &Moto, d: &Delivered, report: &Value) -> String {
    let subject = d.subject();
    assert!(subject.chars().count() <= 100 && !subject.contains('\n'), "subject {subject:?}");
    assert_eq!(subject, expected_subject(report), "subject of the digest");

    let attributes = d.attributes();
    let worst = report["summary"]["worst"].as_str().unwrap_or("none");
    assert_eq!(d.attribute("severity"), Some(worst), "severity attribute: {attributes:?}");
    assert_eq!(d.attribute("event_type"), Some("digest"), "event_type attribute: {attributes:?}");
    assert_eq!(d.attribute("account"), Some(ACCOUNT), "account attribute: {attributes:?}");

    let digest = d.json();
    assert_eq!(digest["schema_version"], 1, "schema_version of the JSON summary");
    for field in ["schema_version", "run_id", "account_id", "action", "mode", "generated_at", "data_as_of"] {
        assert_eq!(digest[field], report[field], "digest.{field}");
    }
    // The counts a SIEM reads are the report's.
    assert_eq!(digest["summary"]["findings"], report["summary"]["findings"], "summary.findings");
    assert_eq!(digest["summary"]["by_severity"], report["summary"]["by_severity"], "summary.by_severity");
    assert_eq!(digest["summary"], report["summary"], "the whole summary");
    // Findings: the worst first, the rest counted as omitted (none here: small accounts).
    let listed = findings(&digest);
    let total = findings(report).len();
    assert_eq!(
        listed.len() as u64 + count(&digest["findings_omitted"]),
        total as u64,
        "findings listed + omitted in the digest"
    );
    assert_eq!(listed.as_slice(), &findings(report)[..listed.len()], "the digest lists the worst findings");
    assert_eq!(listed.len(), total, "a small account's digest lists every finding");
    for field in ["actions", "changes", "archive"] {
        assert_eq!(digest[field], report[field], "digest.{field}");
    }

    // moto recorded the same message, with the same attributes, and its email text.
    let recorded = published(moto);
    let p = recorded
        .iter()
        .find(|p| p.id == d.message_id())
        .unwrap_or_else(|| panic!("moto did not record message {}", d.message_id()));
    assert_eq!(p.subject.as_deref(), Some(subject), "recorded subject");
    assert_eq!(p.attributes["event_type"]["Value"], "digest");
    let email = email_of(moto, d.message_id());
    assert_email_reads_well(&email, report);
    email
}

/// The email is text for people: the account, the run, the counts, and no JSON.
fn assert_email_reads_well(email: &str, report: &Value) {
    assert!(email.contains(ACCOUNT), "email names the account:\n{email}");
    let run_id = report["run_id"].as_str().unwrap_or_default();
    assert!(email.contains(&format!("Run:          {run_id}")), "email names the run:\n{email}");
    let open = count(&report["summary"]["findings"]);
    assert!(email.contains(&format!("Open findings: {open} (")), "email counts open findings:\n{email}");
    for (severity, n) in report["summary"]["by_severity"].as_object().into_iter().flatten() {
        let line = format!("  {severity:<10}{:>6}", count(n));
        assert!(email.contains(&line), "email lacks the count line {line:?}:\n{email}");
    }
    assert!(!email.contains("{\"") && !email.contains("\"schema_version\""), "JSON in the email:\n{email}");
    assert!(!email.trim_start().starts_with('{'), "the email is JSON:\n{email}");
}

/// `<account>/<yyyy>/<mm>/<dd>/<run_id>.json` for a report.
fn archive_key(report: &Value) -> String {
    let at: DateTime<Utc> = report["generated_at"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("generated_at is not a time: {}", report["generated_at"]));
    let run_id = report["run_id"].as_str().unwrap_or_else(|| panic!("report without run_id"));
    format!("{ACCOUNT}/{}/{run_id}.json", at.format("%Y/%m/%d"))
}

/// Where the run's HTML page goes: beside its report.
fn page_key(report: &Value) -> String {
    archive_key(report).replace(".json", ".html")
}

impl Rig {
    async fn object_keys(&self) -> BTreeSet<String> {
        let out = sdk("ListObjectsV2", self.s3.list_objects_v2().bucket(BUCKET).send()).await;
        out.contents.unwrap_or_default().into_iter().filter_map(|o| o.key).collect()
    }

    async fn object(&self, key: &str) -> String {
        let out = sdk(format!("GetObject {key}"), self.s3.get_object().bucket(BUCKET).key(key).send()).await;
        let bytes = out.body.collect().await.unwrap_or_else(|e| panic!("read s3://{BUCKET}/{key}: {e}"));
        String::from_utf8(bytes.into_bytes().to_vec()).unwrap_or_else(|e| panic!("s3://{BUCKET}/{key}: {e}"))
    }

    /// An archived page and the content type S3 serves it with.
    async fn page(&self, key: &str) -> (String, Option<String>) {
        let out = sdk(format!("GetObject {key}"), self.s3.get_object().bucket(BUCKET).key(key).send()).await;
        let content_type = out.content_type.clone();
        let bytes = out.body.collect().await.unwrap_or_else(|e| panic!("read s3://{BUCKET}/{key}: {e}"));
        (String::from_utf8_lossy(&bytes.into_bytes()).into_owned(), content_type)
    }

    async fn object_json(&self, key: &str) -> Value {
        let text = self.object(key).await;
        serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("s3://{BUCKET}/{key} is not JSON ({e}): {text}"))
    }
}

/// A scheduled run over the violations account delivers one digest to a plain queue, whose
/// JSON counts are the response's; a queue filtered on `severity=critical` gets it (root has
/// no MFA in moto: critical) and a queue filtered on `medium` does not. A digest whose worst
/// is medium (an on-demand run scoped to a user with one medium finding) reaches the plain
/// and the medium queue and not the critical one: the filter policies really route on the
/// `severity` attribute. An on-demand run without `notify` publishes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn digest_reaches_subscribers_and_severity_filters_route_it() {
    let rig = Rig::start().await;
    let seeded = scenario::violations(&rig.moto, &rig.aws).await;
    let all = rig.queue("all-alerts", None).await;
    let critical = rig.queue("critical-only", Some(json!({"severity": ["critical"]}))).await;
    let medium = rig.queue("medium-only", Some(json!({"severity": ["medium"]}))).await;
    let watch = Watch::start(&rig.env(&[]));
    let mut delivered = Vec::new();

    // ---- a scheduled run: worst critical ---------------------------------------------------
    let report = rig.run(&watch, SCHEDULED);
    assert_eq!(report["summary"]["worst"], "critical", "root_mfa_disabled is critical");
    assert_eq!(report["archive"], Value::Null, "no REPORT_BUCKET: nothing archived");
    let got = rig.expect(&all, 1, "one digest per scheduled run").await;
    let digest = &got[0];
    let email = assert_digest_of(&rig.moto, digest, &report);
    assert!(
        email.contains("Since the last run: not known"),
        "without a bucket the digest says it cannot tell what is new:\n{email}"
    );
    let crit = rig.expect(&critical, 1, "the critical digest passes the severity=critical filter").await;
    assert_eq!(crit[0].message_id(), digest.message_id(), "the same digest");
    assert_eq!(crit[0].message(), digest.message(), "the same JSON summary");
    let first_id = digest.message_id().to_string();
    rig.expect(&medium, 0, "a critical digest does not pass the severity=medium filter").await;
    delivered.extend(got);
    delivered.extend(crit);

    // ---- an on-demand run scoped to a user with one medium finding, notify: true -----------
    let user = "no-mfa-api";
    let expected: Vec<String> = seeded.expected_for(user).iter().map(|e| e.check.clone()).collect();
    assert_eq!(expected, ["user_without_mfa"], "the scenario gives {user} one medium finding");
    let scoped = rig.run_json(&watch, &json!({"action": "audit", "users": [user], "notify": true}));
    assert_eq!(scoped["summary"]["worst"], "medium", "scoped report: {:#}", scoped["summary"]);
    assert!(
        findings(&scoped).iter().all(|f| f["user"] == user && f["severity"] == "medium"),
        "only {user}'s medium finding: {:#}",
        scoped["findings"]
    );
    let got = rig.expect(&all, 1, "an on-demand run with notify=true publishes its digest").await;
    assert_digest_of(&rig.moto, &got[0], &scoped);
    assert_ne!(got[0].message_id(), first_id);
    rig.expect(&critical, 0, "a digest whose worst is medium must not reach the critical queue").await;
    let med = rig.expect(&medium, 1, "the medium digest passes the severity=medium filter").await;
    assert_eq!(med[0].message_id(), got[0].message_id());
    delivered.extend(got);
    delivered.extend(med);

    // ---- an on-demand run without notify publishes nothing ---------------------------------
    rig.run(&watch, "events/audit.json");
    rig.expect(&all, 0, "an on-demand run without notify publishes nothing").await;
    let recorded = published(&rig.moto);
    assert_eq!(recorded.len(), 2, "moto recorded two publishes: {:?}", recorded.iter().map(|p| &p.subject));

    rig.finish(&watch, &delivered, Vec::new()).await;
}

/// Enforce mode and a user with a 100-day-old key: the scheduled run rotates it and publishes
/// the rotation as its own message (event_type=rotation, rotation_step=create, user), which a
/// queue filtered on `event_type=rotation` receives alone; a queue filtered on
/// `event_type=digest` receives the digest alone, which lists the action taken.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_events_are_their_own_messages() {
    let rig = Rig::start().await;
    rig.moto.set_clock("-100d");
    rig.aws.create_user("alice").await;
    let old = rig.aws.create_access_key("alice").await;
    rig.moto.set_clock("+0");
    rig.aws.use_key(&old).await;
    let rotations = rig.queue("rotations", Some(json!({"event_type": ["rotation"]}))).await;
    let digests = rig.queue("digests", Some(json!({"event_type": ["digest"]}))).await;
    let all = rig.queue("all-alerts", None).await;
    let watch = Watch::start(&rig.env(&[("ROTATION_MODE", "enforce"), ("KEYWARDEN_ROLE_ARN", ROLE_ARN)]));

    let report = rig.run(&watch, SCHEDULED);
    let actions: Vec<&Value> =
        report["actions"].as_array().into_iter().flatten().filter(|a| a["user"] == "alice").collect();
    assert_eq!(actions.len(), 1, "one action for alice: {:#}", report["actions"]);
    let action = actions[0];
    assert_eq!(
        (action["step"].as_str(), action["status"].as_str()),
        (Some("create"), Some("done")),
        "{action}"
    );
    assert_eq!(action["old_key_id"], old.access_key_id.as_str());
    let new_key = action["new_key_id"].as_str().unwrap_or_else(|| panic!("no new key: {action}")).to_string();

    let rot = rig.expect(&rotations, 1, "the rotation event, and not the digest").await;
    let r = &rot[0];
    let attributes = r.attributes();
    assert_eq!(r.attribute("event_type"), Some("rotation"), "{attributes:?}");
    assert_eq!(r.attribute("rotation_step"), Some("create"), "{attributes:?}");
    assert_eq!(r.attribute("user"), Some("alice"), "{attributes:?}");
    assert_eq!(r.attribute("account"), Some(ACCOUNT), "{attributes:?}");
    assert_eq!(r.attribute("severity"), Some("info"), "a started rotation is informational: {attributes:?}");
    let subject = r.subject();
    assert!(subject.chars().count() <= 100 && !subject.contains('\n'), "subject {subject:?}");
    assert!(
        subject.starts_with(&format!("keywarden {ACCOUNT}: ")) && subject.contains("alice"),
        "{subject:?}"
    );
    let text = r.message();
    for needle in ["alice", old.access_key_id.as_str(), new_key.as_str(), "Secrets Manager"] {
        assert!(text.contains(needle), "the rotation message lacks {needle:?}:\n{text}");
    }
    eprintln!("rotation message ({subject}):\n{text}");

    let dig = rig.expect(&digests, 1, "the digest, and not the rotation event").await;
    let email = assert_digest_of(&rig.moto, &dig[0], &report);
    assert!(email.contains("KEY ROTATION"), "the digest lists the rotation taken:\n{email}");
    let rotation_line = email.lines().find(|l| l.trim_start().starts_with("create")).unwrap_or_default();
    assert!(
        rotation_line.contains("done") && rotation_line.contains("alice") && rotation_line.contains(&new_key),
        "rotation line of the digest: {rotation_line:?}\n{email}"
    );

    let got = rig.expect(&all, 2, "an unfiltered queue gets the digest and the rotation event").await;
    let ids: BTreeSet<&str> = got.iter().map(Delivered::message_id).collect();
    assert_eq!(ids, BTreeSet::from([r.message_id(), dig[0].message_id()]));

    let delivered: Vec<Delivered> = rot.iter().chain(&dig).chain(&got).cloned().collect();
    rig.finish(&watch, &delivered, Vec::new()).await;
}

/// With `REPORT_BUCKET`, each scheduled run's report is archived at
/// `<account>/<yyyy>/<mm>/<dd>/<run_id>.json` (and `<account>/latest.json` points to it);
/// between two runs alice joins a group (her `user_in_no_group` is fixed) and a new console
/// user without MFA appears: the second report and its digest name the first as resolved and
/// the second as new, the subject says `(1 new)`, and the email says what changed. The email
/// of that digest is saved to `out/email-digest.txt`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archive_tells_new_and_resolved_between_runs() {
    let rig = Rig::start().await;
    scenario::violations(&rig.moto, &rig.aws).await;
    sdk("CreateBucket", rig.s3.create_bucket().bucket(BUCKET).send()).await;
    let all = rig.queue("all-alerts", None).await;
    let watch = Watch::start(&rig.env(&[("REPORT_BUCKET", BUCKET)]));

    // ---- run 1: archived, nothing to compare with yet --------------------------------------
    let run1 = rig.run(&watch, SCHEDULED);
    let key1 = archive_key(&run1);
    assert_eq!(run1["archive"], format!("s3://{BUCKET}/{key1}"), "archive of run 1");
    assert_eq!(run1["changes"], Value::Null, "no previous report: no changes");
    let d1 = rig.expect(&all, 1, "the digest of run 1").await;
    let email1 = assert_digest_of(&rig.moto, &d1[0], &run1);
    assert!(
        email1.contains(&format!("Full report: s3://{BUCKET}/{key1}")),
        "email points to the archive:\n{email1}"
    );
    // A first run with a bucket has nothing to compare with yet; what its email says about
    // that is printed, not asserted (it currently claims no archive is configured).
    let since1 = email1.lines().find(|l| l.starts_with("Since the last run")).unwrap_or_default();
    eprintln!("run 1, the first archived run, says: {since1}");
    let latest = format!("{ACCOUNT}/latest.json");
    let page1 = page_key(&run1);
    assert_eq!(run1["page"], format!("s3://{BUCKET}/{page1}"), "the page of run 1");
    assert_eq!(
        rig.object_keys().await,
        BTreeSet::from([key1.clone(), page1.clone(), latest.clone()]),
        "objects after run 1"
    );
    let (html1, content_type) = rig.page(&page1).await;
    assert_eq!(content_type.as_deref(), Some("text/html; charset=utf-8"), "served as a page");
    assert!(html1.contains(&format!("keywarden report: account {ACCOUNT}")), "the page names the account");
    assert!(html1.contains("default-src 'none'"), "the archived page fetches nothing either");
    assert_eq!(
        html1.matches("<tr data-severity=").count(),
        findings(&run1).len(),
        "a row per finding on the page of run 1"
    );
    assert!(
        email1.contains(&format!("Report page: s3://{BUCKET}/{page1}")),
        "email names the page:\n{email1}"
    );
    assert!(
        email1.contains(&format!("https://s3.console.aws.amazon.com/s3/object/{BUCKET}?prefix={page1}")),
        "email links the page in the S3 console:\n{email1}"
    );
    let archived1 = rig.object_json(&key1).await;
    assert_eq!(archived1["run_id"], run1["run_id"]);
    assert_eq!(archived1["findings"], run1["findings"], "the archive holds the full report");
    assert_eq!(archived1["summary"], run1["summary"]);
    assert_eq!(rig.object_json(&latest).await["key"], key1.as_str(), "latest.json points to run 1");

    // ---- between the runs: one finding fixed, one violation new ----------------------------
    let alice_arn = rig.aws.user_arn("alice").await;
    rig.aws.add_to_group("alice", TEAM_GROUP).await;
    rig.aws.create_user("newcomer").await;
    rig.aws.add_to_group("newcomer", TEAM_GROUP).await;
    rig.aws.create_login_profile("newcomer").await;
    let newcomer_arn = rig.aws.user_arn("newcomer").await;

    // ---- run 2: compared with run 1 ---------------------------------------------------------
    let run2 = rig.run(&watch, SCHEDULED);
    let key2 = archive_key(&run2);
    assert_ne!(key1, key2);
    assert_eq!(run2["archive"], format!("s3://{BUCKET}/{key2}"), "archive of run 2");
    let changes = &run2["changes"];
    assert_eq!(changes["previous_run_id"], run1["run_id"], "compared with run 1: {changes:#}");
    assert_eq!(changes["previous_generated_at"], run1["generated_at"]);
    let new_id = format!("console_user_without_mfa:{newcomer_arn}");
    assert_eq!(changes["new"], json!([new_id]), "the new violation is new: {changes:#}");
    let resolved = changes["resolved"].as_array().unwrap_or_else(|| panic!("no resolved list: {changes:#}"));
    assert_eq!(resolved.len(), 1, "one finding resolved: {changes:#}");
    assert_eq!(
        (resolved[0]["check"].as_str(), resolved[0]["user"].as_str(), resolved[0]["resource"].as_str()),
        (Some("user_in_no_group"), Some("alice"), Some(alice_arn.as_str())),
        "alice's user_in_no_group is resolved: {changes:#}"
    );
    let open1 = count(&run1["summary"]["findings"]);
    assert_eq!(count(&changes["ongoing"]), open1 - 1, "every other open finding is ongoing");
    assert_eq!(count(&run2["summary"]["findings"]), open1, "one fixed, one new");
    assert!(
        findings(&run2).iter().any(|f| f["check"] == "console_user_without_mfa" && f["user"] == "newcomer"),
        "run 2 reports the newcomer"
    );

    let page2 = page_key(&run2);
    assert_eq!(
        rig.object_keys().await,
        BTreeSet::from([key1.clone(), page1.clone(), key2.clone(), page2.clone(), latest.clone()]),
        "both reports and their pages stay archived"
    );
    // Run 2's page draws the trend from run 1 (already read for the changes) and run 2: a dot
    // per run and severity; run 1's page had one run to draw.
    let (html2, _) = rig.page(&page2).await;
    let dots = |html: &str| html.matches("<circle class=\"point\"").count();
    assert_eq!((dots(&html1), dots(&html2)), (5, 10), "trend dots of the pages of run 1 and run 2");
    assert_eq!(rig.object_json(&latest).await["key"], key2.as_str(), "latest.json points to run 2");
    let archived2 = rig.object_json(&key2).await;
    assert_eq!(archived2["run_id"], run2["run_id"]);
    assert_eq!(archived2["changes"], run2["changes"], "the archived report carries its changes");

    let d2 = rig.expect(&all, 1, "the digest of run 2").await;
    let digest2 = &d2[0];
    let email2 = assert_digest_of(&rig.moto, digest2, &run2);
    assert!(digest2.subject().ends_with("(1 new)"), "subject: {:?}", digest2.subject());
    assert_eq!(digest2.attribute("severity"), Some("critical"));
    let since = format!("1 new, 1 resolved, {} ongoing", open1 - 1);
    assert!(email2.contains(&since), "email says {since:?}:\n{email2}");
    let high = count(&run2["summary"]["by_severity"]["high"]);
    let high_line = format!("  {:<10}{high:>6}  (1 new)", "high");
    assert!(email2.contains(&high_line), "email marks the new high finding ({high_line:?}):\n{email2}");
    let resolved_section = email2
        .split("RESOLVED SINCE THE LAST RUN")
        .nth(1)
        .unwrap_or_else(|| panic!("no resolved section in the email:\n{email2}"));
    let resolved_line = resolved_section.lines().nth(1).unwrap_or_default();
    assert!(
        resolved_line.contains("user_in_no_group") && resolved_line.contains("alice"),
        "resolved line {resolved_line:?}:\n{email2}"
    );
    assert!(email2.contains("newcomer"), "the email lists the new finding:\n{email2}");
    assert!(
        email2.contains(&format!("Full report: s3://{BUCKET}/{key2}")),
        "email points to the archive:\n{email2}"
    );

    // The email of a real delivered digest, for the closing note.
    let out = workspace_root().join(EMAIL_OUT);
    std::fs::create_dir_all(out.parent().expect("out/ has a parent")).expect("create out/");
    let saved = format!("Subject: {}\n\n{email2}", digest2.subject());
    std::fs::write(&out, &saved).unwrap_or_else(|e| panic!("write {}: {e}", out.display()));
    eprintln!("---- email digest ({}) ----\n{saved}---- end of email digest ----", out.display());

    let mut archived = Vec::new();
    for key in rig.object_keys().await {
        archived.push((format!("s3://{BUCKET}/{key}"), rig.object(&key).await));
    }
    let delivered: Vec<Delivered> = d1.iter().chain(&d2).cloned().collect();
    rig.finish(&watch, &delivered, archived).await;
}

/// A denied credential report proves nothing about the findings it feeds: the run after a
/// normal one lists none of them as resolved (they are `unverified`), its email does not
/// either, and when the report is readable again the next run does not call them new.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_denied_credential_report_resolves_nothing() {
    use keywarden_e2e::proxy::{Intercept, Proxy};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    let rig = Rig::start().await;
    scenario::violations(&rig.moto, &rig.aws).await;
    sdk("CreateBucket", rig.s3.create_bucket().bucket(BUCKET).send()).await;
    let all = rig.queue("all-alerts", None).await;
    let deny = Arc::new(AtomicBool::new(false));
    let proxy = {
        let deny = deny.clone();
        Proxy::start(rig.moto.port(), move |req| {
            let op = req.operation();
            if deny.load(Ordering::SeqCst)
                && (op == "GetCredentialReport" || op == "GenerateCredentialReport")
            {
                Intercept::ServiceError {
                    status: 403,
                    code: "AccessDenied".into(),
                    message: format!("User is not authorized to perform: iam:{op}"),
                }
            } else {
                Intercept::Forward
            }
        })
    };
    let mut env = rig.env(&[("REPORT_BUCKET", BUCKET)]);
    env.insert("AWS_ENDPOINT_URL".into(), proxy.endpoint());
    let watch = Watch::start(&env);
    let invoke = |what: &str| {
        let inv = watch.invoke(Path::new(SCHEDULED));
        assert!(inv.success, "{what} failed:\n{}\n{}", inv.output(), watch.log_tail());
        let report = inv.json();
        assert_summary_consistent(&report);
        report
    };

    let run1 = rig.report(&watch, watch.invoke(Path::new(SCHEDULED)), "run 1");
    // The findings that come from the credential report (every one with a key slot, and the
    // MFA ones).
    let from_report: BTreeSet<String> = findings(&run1)
        .iter()
        .filter(|f| f["exempted"] == false)
        .filter(|f| {
            f["key_slot"].is_u64()
                || matches!(f["check"].as_str(), Some("console_user_without_mfa" | "user_without_mfa"))
        })
        .map(finding_id)
        .collect();
    assert!(from_report.len() >= 3, "the scenario has credential findings: {from_report:?}");
    rig.expect(&all, 1, "the digest of run 1").await;

    deny.store(true, Ordering::SeqCst);
    let run2 = invoke("run 2 (credential report denied)");
    deny.store(false, Ordering::SeqCst);
    let errors = run2["errors"].as_array().cloned().unwrap_or_default();
    assert!(
        // (The proxy answers in JSON, which IAM's XML parser reads as a code-less error.)
        errors.iter().any(|e| e["operation"].as_str().is_some_and(|o| o.contains("CredentialReport"))),
        "run 2 says the report was denied: {errors:#?}"
    );
    assert_eq!(run2["summary"]["checks"]["console_user_without_mfa"]["status"], "unknown");
    let changes = &run2["changes"];
    let resolved: BTreeSet<String> =
        changes["resolved"].as_array().map(|r| r.iter().map(finding_id).collect()).unwrap_or_default();
    assert!(resolved.is_disjoint(&from_report), "resolved by a check that never ran: {changes:#}");
    let unverified: BTreeSet<String> = changes["unverified"]
        .as_array()
        .map(|u| u.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
        .unwrap_or_default();
    assert!(from_report.is_subset(&unverified), "unverified {unverified:?} lacks some of {from_report:?}");
    let d2 = rig.expect(&all, 1, "the digest of run 2").await;
    let email2 = email_of(&rig.moto, d2[0].message_id());
    assert!(!email2.contains("RESOLVED SINCE THE LAST RUN"), "nothing is resolved:\n{email2}");
    assert!(email2.contains("not compared"), "the email says what was not compared:\n{email2}");

    let run3 = rig.report(&watch, watch.invoke(Path::new(SCHEDULED)), "run 3");
    let new: BTreeSet<String> = run3["changes"]["new"]
        .as_array()
        .map(|n| n.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
        .unwrap_or_default();
    assert!(new.is_disjoint(&from_report), "back after a blind run is not new: {:#}", run3["changes"]);
    assert_eq!(run3["changes"]["resolved"], json!([]), "{:#}", run3["changes"]);
    rig.expect(&all, 1, "the digest of run 3").await;
}

/// [`keywarden_core::report::Finding::id`] of a finding in a report's JSON.
fn finding_id(f: &Value) -> String {
    let (check, resource) =
        (f["check"].as_str().unwrap_or_default(), f["resource"].as_str().unwrap_or_default());
    let created = f["key_created"].as_str().and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok());
    match (created, f["access_key_id"].as_str()) {
        (Some(t), _) => format!(
            "{check}:{resource}:key-created-{}",
            t.with_timezone(&chrono::Utc).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        ),
        (None, Some(key)) => format!("{check}:{resource}:{key}"),
        (None, None) => format!("{check}:{resource}"),
    }
}
