//! End-to-end: malformed input through the real `keywarden` binary changes nothing. Every
//! request the function makes goes through the proxy, whose log proves that no write was
//! sent: bad configuration (the corpus of `crates/keywarden-core/tests/fixtures/malformed/
//! config`) fails every invocation naming the variable, and malformed events are refused
//! before any AWS call. The function runs in `enforce` mode, so a write would be possible.

use std::collections::BTreeMap;
use std::path::Path;

use keywarden_e2e::proxy::{Intercept, Proxy};
use keywarden_e2e::{function_env, workspace_root, Aws, Moto, Watch};
use serde_json::json;

const CONFIG_CORPUS: &str = "crates/keywarden-core/tests/fixtures/malformed/config";

/// Operations that change something in AWS.
fn is_write(operation: &str) -> bool {
    const WRITES: [&str; 13] = [
        "Create",
        "Update",
        "Delete",
        "Put",
        "Tag",
        "Untag",
        "Publish",
        "Attach",
        "Detach",
        "Add",
        "Remove",
        "Enable",
        "Deactivate",
    ];
    WRITES.iter().any(|w| operation.starts_with(w))
}

fn env_file(path: &Path) -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once('=').map(|(k, v)| (k.trim().to_string(), v.to_string())))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_config_and_malformed_events_get_a_clear_error_and_no_write() {
    let moto = Moto::start();
    let aws = Aws::connect(&moto.endpoint()).await;
    // A user due for rotation: a run that got past its input would have work to do.
    aws.create_user("alice").await;
    aws.create_access_key("alice").await;
    let proxy = Proxy::start(moto.port(), |_| Intercept::Forward);
    let mut base = function_env(&proxy.endpoint());
    base.insert("ROTATION_MODE".into(), "enforce".into());
    base.insert("ROTATE_AFTER_DAYS".into(), "30".into());

    let dir = workspace_root().join(CONFIG_CORPUS);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "env"))
        .collect();
    files.sort();
    assert!(files.len() >= 10, "the config corpus is there: {files:?}");
    for file in &files {
        let bad = env_file(file);
        let mut env = base.clone();
        env.extend(bad.clone());
        let watch = Watch::start(&env);
        let inv = watch.invoke_json(&json!({"action": "rotate", "dry_run": false}));
        let output = inv.output_words();
        assert!(!inv.success, "{}: a bad config must fail the invocation:\n{output}", file.display());
        let names_a_variable = bad.keys().any(|k| output.contains(k.as_str()));
        assert!(
            names_a_variable,
            "{}: the error names the variable ({:?}):\n{output}",
            file.display(),
            bad.keys()
        );
    }

    let watch = Watch::start(&base);
    for event in [
        json!([]),
        json!("audit"),
        json!({"action": "rotate", "dry_run": false, "user": ["alice"]}),
        json!({"action": "rotate", "dry_run": "no", "users": ["alice"]}),
        json!({"action": "rotate", "users": ["alice", "bad name"]}),
        json!({"action": "rotate", "users": []}),
        json!({"detail-type": "Scheduled Event", "source": "evil.events", "detail": {}}),
        json!({"detail-type": ["Scheduled Event"], "source": "aws.events"}),
    ] {
        let inv = watch.invoke_json(&event);
        assert!(!inv.success, "{event} must be refused:\n{}", inv.output());
        assert!(
            inv.output_words().contains("BadRequest")
                || inv.output_words().contains("malformed")
                || inv.output_words().contains("not a valid")
                || inv.output_words().contains("unsupported")
                || inv.output_words().contains("expected"),
            "{event}: a reason:\n{}",
            inv.output()
        );
    }

    let log = proxy.log();
    let writes: Vec<&str> = log.iter().map(|e| e.operation.as_str()).filter(|op| is_write(op)).collect();
    assert!(writes.is_empty(), "malformed input led to writes: {writes:?}");
    assert!(
        log.is_empty(),
        "malformed input is refused before any AWS call: {:?}",
        log.iter().map(|e| &e.operation).collect::<Vec<_>>()
    );
    eprintln!("{} config files and 8 events refused; the proxy saw {} requests", files.len(), log.len());
}
