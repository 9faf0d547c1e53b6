//! The leak scanner: everything the function wrote during a test must be free of every
//! secret access key that exists.
//!
//! What is scanned: watch's whole log (the function's stdout and stderr: its tracing output,
//! panics), every invocation's event and `cargo lambda invoke` output (the responses, the
//! error messages), and every SNS message moto recorded (the `sns` section of
//! `/moto-api/data.json`: topics with their `sent_notifications`).
//!
//! The secrets looked for: every access key moto ever issued, deleted ones included (moto
//! keeps each model instance it creates, so `data.json` lists them with their secrets; that
//! covers a key whose secret was never stored), and every version of every secret in Secrets
//! Manager (read back with `GetSecretValue`), which must each be one of those keys.
//!
//! A secret counts as leaked when it appears whole, or any run of 19 or more of its
//! characters does (a truncated or partly masked print), in the text as written or with all
//! whitespace and the box-drawing characters `cargo lambda invoke` wraps errors in removed (a
//! secret broken across lines). Leaks are reported by source and key id, never by value.

use std::collections::BTreeMap;

use crate::lambda::Watch;
use crate::moto::Moto;
use crate::seed::Aws;

/// Length of the windows of a secret looked for; a window starts every [`STEP`] characters,
/// so any leaked run of `WINDOW + STEP - 1` characters contains one.
const WINDOW: usize = 16;
const STEP: usize = 4;

/// What a scan looked at and what it found.
#[derive(Debug, Default)]
pub struct Scan {
    /// Distinct secret access keys looked for.
    pub secrets: usize,
    /// Secret versions read back from Secrets Manager.
    pub stored_versions: usize,
    /// The texts scanned: source → length in bytes.
    pub sources: BTreeMap<String, usize>,
    /// `source: key id of user` for every secret found somewhere it must not be.
    pub leaks: Vec<String>,
}

/// A secret to look for, named by its key id and user.
#[derive(Debug)]
struct Needle {
    label: String,
    secret: String,
}

/// The texts the function wrote during the test, by source.
pub fn function_output(watch: &Watch, moto: &Moto) -> Vec<(String, String)> {
    let mut texts = vec![("watch log (function stdout/stderr)".to_string(), watch.log())];
    for (i, entry) in watch.transcript().into_iter().enumerate() {
        texts.push((format!("invocation {}", i + 1), entry));
    }
    texts.push(("SNS messages in moto".to_string(), moto.sns_text()));
    texts
}

/// Scans `texts` for every secret access key that exists in `moto` (IAM) and in Secrets
/// Manager.
pub async fn scan_texts(aws: &Aws, moto: &Moto, texts: &[(String, String)]) -> Scan {
    let issued = moto.issued_keys();
    let stored = aws.all_stored_keys().await;
    let mut needles: BTreeMap<String, Needle> = BTreeMap::new();
    for (user, id, secret) in &issued {
        needles
            .entry(secret.clone())
            .or_insert_with(|| Needle { label: format!("{id} of {user}"), secret: secret.clone() });
    }
    let mut scan = Scan { stored_versions: stored.len(), ..Scan::default() };
    for (name, version, key) in &stored {
        let secret = key.reveal_secret();
        // A stored secret that is no key moto issued is a broken rotation, not a leak.
        if !issued.iter().any(|(_, id, s)| id == &key.access_key_id && s == secret) {
            scan.leaks.push(format!(
                "Secrets Manager {name} version {version} holds a secret that is not the one of key {}",
                key.access_key_id
            ));
        }
        needles.entry(secret.to_string()).or_insert_with(|| Needle {
            label: format!("{} stored in {name}", key.access_key_id),
            secret: secret.to_string(),
        });
    }
    scan.secrets = needles.len();
    for (source, text) in texts {
        scan.sources.insert(source.clone(), text.len());
        let squeezed = squeeze(text);
        for needle in needles.values() {
            if found(text, &needle.secret) || found(&squeezed, &needle.secret) {
                scan.leaks.push(format!("{source}: the secret of {}", needle.label));
            }
        }
    }
    scan
}

/// Scans everything the function wrote during the test (see [`function_output`]) and fails
/// the test on any leak. Returns the scan, so a test can also check it looked at something.
pub async fn assert_no_secret_leaked(aws: &Aws, moto: &Moto, watch: &Watch) -> Scan {
    assert_no_leak_in(aws, moto, &function_output(watch, moto)).await
}

/// Scans `texts` (named sources) for every secret moto issued or the function stored, and
/// fails the test on any leak, naming keys by id only.
pub async fn assert_no_leak_in(aws: &Aws, moto: &Moto, texts: &[(String, String)]) -> Scan {
    let scan = scan_texts(aws, moto, texts).await;
    assert!(
        scan.leaks.is_empty(),
        "secret access keys leaked (values not shown):\n  {}\nscanned: {:?}",
        scan.leaks.join("\n  "),
        scan.sources
    );
    assert!(scan.secrets > 0, "the leak scan had no secret to look for: it proves nothing");
    let scanned: usize = scan.sources.values().sum();
    assert!(scanned > 0, "the leak scan had no output to look at");
    eprintln!(
        "leak scan: {} secrets ({} stored versions) not found in {} bytes from {} sources",
        scan.secrets,
        scan.stored_versions,
        scanned,
        scan.sources.len()
    );
    scan
}

/// The text without whitespace and without the box-drawing characters `cargo lambda invoke`
/// frames error messages with, so a secret split across wrapped lines is whole again.
fn squeeze(text: &str) -> String {
    text.chars().filter(|c| !c.is_whitespace() && !matches!(c, '│' | '×' | '╰' | '─' | '▶' | '├')).collect()
}

/// Whether `text` holds `secret` or any window of it.
fn found(text: &str, secret: &str) -> bool {
    if text.contains(secret) {
        return true;
    }
    let chars: Vec<char> = secret.chars().collect();
    if chars.len() < WINDOW {
        return false;
    }
    (0..=chars.len() - WINDOW)
        .step_by(STEP)
        .chain(std::iter::once(chars.len() - WINDOW))
        .any(|start| text.contains(&chars[start..start + WINDOW].iter().collect::<String>()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCD";

    #[test]
    fn finds_whole_partial_and_wrapped_secrets() {
        assert!(found(&format!("x {SECRET} y"), SECRET));
        assert!(found(&format!("secret={}…", &SECRET[..20]), SECRET), "a truncated print");
        assert!(found(&format!("****{}", &SECRET[21..]), SECRET), "a masked print of the tail");
        let wrapped = format!("│ {}\n│ {}\n│ {}", &SECRET[..13], &SECRET[13..27], &SECRET[27..]);
        assert!(!found(&wrapped, SECRET));
        assert!(found(&squeeze(&wrapped), SECRET), "a print wrapped in cargo lambda's box");
        assert!(!found("AKIAIOSFODNN7EXAMPLE abcdefghijklmno", SECRET), "15 characters are not a leak");
    }
}
