//! A wall-clock-bounded fuzz harness over proptest, and structure-aware damage for JSON and
//! text inputs, shared by the parsers' fuzz targets in every crate (`tests/fuzz*.rs`).
//!
//! cargo-fuzz needs a nightly toolchain; this project builds on stable, so each target is a
//! proptest strategy run in batches until `KEYWARDEN_FUZZ_SECONDS` (default 30) have passed.
//! Test support only: compiled with the `mock` feature.

use std::cell::Cell;
use std::fmt::Debug;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::test_runner::{Config as RunnerConfig, TestCaseError, TestError, TestRunner};
use serde_json::{json, Value};

/// Cases per batch: small, so a run overshoots its deadline by little.
pub const BATCH: u32 = 32;

/// Longest error message we accept: an error quoting a 10 MB cell is not one a person reads.
pub const MAX_MESSAGE: usize = 1024;

/// How long each target runs: `KEYWARDEN_FUZZ_SECONDS`, 30 s when unset; panics unless whole seconds.
pub fn budget() -> Duration {
    match std::env::var("KEYWARDEN_FUZZ_SECONDS") {
        Err(_) => Duration::from_secs(30),
        Ok(s) => match s.trim().parse() {
            Ok(secs) => Duration::from_secs(secs),
            Err(_) => panic!("KEYWARDEN_FUZZ_SECONDS={s:?} is not a whole number of seconds"),
        },
    }
}

/// Runs `test` over `strategy` until the budget is spent. `test` returns whether the input
/// parsed; both outcomes must occur, or the generator is not exercising the parser.
pub fn fuzz<S>(name: &str, strategy: S, test: impl Fn(S::Value) -> Result<bool, TestCaseError>)
where
    S: Strategy,
    S::Value: Debug,
{
    let budget = budget();
    let start = Instant::now();
    let parsed = Cell::new(0u64);
    let rejected = Cell::new(0u64);
    loop {
        let config = RunnerConfig {
            cases: BATCH,
            // The corpus under tests/fixtures/malformed is the regression store.
            failure_persistence: None,
            ..RunnerConfig::default()
        };
        let mut runner = TestRunner::new(config);
        let result = runner.run(&strategy, |input| {
            let counter = if test(input)? { &parsed } else { &rejected };
            counter.set(counter.get() + 1);
            Ok(())
        });
        match result {
            Ok(()) => {}
            Err(TestError::Fail(reason, input)) => {
                // The whole input goes to a file: a shrunk 100 kB cell is still 100 kB.
                let shown = format!("{input:?}");
                let path = std::env::temp_dir().join(format!("fuzz-{name}.txt"));
                let saved = match std::fs::write(&path, &shown) {
                    Ok(()) => format!("saved in {}", path.display()),
                    Err(e) => format!("not saved: {e}"),
                };
                let head: String = shown.chars().take(2000).collect();
                panic!("fuzz {name}: {reason:.2000}\nminimal failing input ({saved}): {head}")
            }
            Err(TestError::Abort(reason)) => panic!("fuzz {name}: aborted: {reason}"),
        }
        if start.elapsed() >= budget {
            break;
        }
    }
    let (parsed, rejected) = (parsed.get(), rejected.get());
    eprintln!(
        "fuzz {name}: {} cases in {:.1}s without a panic ({parsed} parsed, {rejected} rejected)",
        parsed + rejected,
        start.elapsed().as_secs_f64()
    );
    assert!(parsed > 0, "fuzz {name}: no input parsed; the valid generator is broken");
    assert!(rejected > 0, "fuzz {name}: no input was rejected; the damaging generators are broken");
}

/// Whether `message` names line `n` (and not, say, line `n`0).
pub fn names_line(message: &str, n: usize) -> bool {
    let needle = format!("line {n}");
    message
        .match_indices(&needle)
        .any(|(i, _)| !message[i + needle.len()..].starts_with(|c: char| c.is_ascii_digit()))
}

/// Fails the case if an error message is empty or longer than [`MAX_MESSAGE`] bytes.
pub fn check_message(message: &str) -> Result<(), TestCaseError> {
    prop_assert!(!message.is_empty());
    prop_assert!(message.len() <= MAX_MESSAGE, "error message of {} bytes: {:.200}…", message.len(), message);
    Ok(())
}

/// Character-level damage to a text (positions wrap around its length).
#[derive(Debug, Clone)]
pub enum Edit {
    /// Removes up to `len` characters.
    Delete {
        /// Start position, modulo the text's length.
        at: usize,
        /// Characters removed, cut at the end of the text.
        len: usize,
    },
    /// Inserts `text`.
    Insert {
        /// Position, modulo the text's length plus one (so the end is reachable).
        at: usize,
        /// The characters inserted.
        text: String,
    },
}

/// One [`Edit`]: a short deletion, or an insertion of a few JSON-ish or arbitrary characters.
pub fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), 1usize..8).prop_map(|(at, len)| Edit::Delete { at, len }),
        (any::<usize>(), prop_oneof![r#"[{}\[\]",:\\0-9a-z\-. ]{1,4}"#, ".{1,4}"])
            .prop_map(|(at, text)| Edit::Insert { at, text }),
    ]
}

/// Applies `edits` in order, each position taken modulo the text's current length.
pub fn apply_edits(text: &str, edits: &[Edit]) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for e in edits {
        match e {
            Edit::Delete { at, len } => {
                if chars.is_empty() {
                    continue;
                }
                let at = at % chars.len();
                let end = (at + len).min(chars.len());
                chars.drain(at..end);
            }
            Edit::Insert { at, text } => {
                let at = at % (chars.len() + 1);
                chars.splice(at..at, text.chars());
            }
        }
    }
    chars.into_iter().collect()
}

// --- JSON helpers shared by the policy and desired-state targets ---------------------------

/// Nodes of `v`, itself included: the range [`nth_node`] and [`replace_node`] index.
pub fn count_nodes(v: &Value) -> usize {
    1 + match v {
        Value::Array(items) => items.iter().map(count_nodes).sum(),
        Value::Object(map) => map.values().map(count_nodes).sum(),
        _ => 0,
    }
}

/// The `n`-th node of `v` in pre-order.
pub fn nth_node<'a>(v: &'a mut Value, n: &mut usize) -> Option<&'a mut Value> {
    if *n == 0 {
        return Some(v);
    }
    *n -= 1;
    match v {
        Value::Array(items) => items.iter_mut().find_map(|item| nth_node(item, n)),
        Value::Object(map) => map.values_mut().find_map(|item| nth_node(item, n)),
        _ => None,
    }
}

/// Replaces one node of `doc` (chosen by `index`, wrapping) with `with(old)`.
pub fn replace_node(doc: &mut Value, index: usize, with: impl FnOnce(Value) -> Value) {
    let mut n = index % count_nodes(doc);
    if let Some(node) = nth_node(doc, &mut n) {
        let old = node.take();
        *node = with(old);
    }
}

/// Wraps `v` in `depth` arrays, or `{"Statement": …}` objects, to probe recursion limits.
pub fn nest(v: Value, depth: usize, as_object: bool) -> Value {
    (0..depth).fold(v, |inner, _| if as_object { json!({ "Statement": inner }) } else { json!([inner]) })
}

/// A value of some other type than the one a parser expects at a place.
pub fn wrong_type() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        ".{0,12}".prop_map(Value::String),
        Just(json!([])),
        Just(json!({})),
        Just(json!([1, "x", null])),
        Just(json!({ "x": [] })),
    ]
}

/// Arbitrary JSON whose keys and strings are drawn mostly from `words`, so that random
/// documents get past the first "unknown field" check.
pub fn json_from(words: &'static [&'static str]) -> impl Strategy<Value = Value> {
    let word = prop_oneof![3 => prop::sample::select(words).prop_map(String::from), 1 => ".{0,8}"];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        word.clone().prop_map(Value::String),
    ];
    leaf.prop_recursive(6, 96, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map(word.clone(), inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Structure-aware damage to a valid JSON document, applied by [`damage_json`].
#[derive(Debug, Clone)]
pub enum JsonDamage {
    /// One node (any depth) replaced by a value of another type.
    WrongType {
        /// Pre-order index of the node, modulo the node count.
        at: usize,
        /// The replacement.
        with: Value,
    },
    /// One node wrapped in `depth` arrays or objects.
    Deep {
        /// Pre-order index of the node, modulo the node count.
        at: usize,
        /// How many levels are wrapped around it.
        depth: usize,
        /// Objects (`{"Statement": …}`) rather than arrays.
        as_object: bool,
    },
    /// The serialized text edited character by character.
    Text(Vec<Edit>),
}

/// Mostly wrong-type replacements, some text edits, a few deep nestings (weights 4:2:1).
pub fn json_damage() -> impl Strategy<Value = JsonDamage> {
    prop_oneof![
        4 => (any::<usize>(), wrong_type()).prop_map(|(at, with)| JsonDamage::WrongType { at, with }),
        1 => (any::<usize>(), 1usize..300, any::<bool>())
            .prop_map(|(at, depth, as_object)| JsonDamage::Deep { at, depth, as_object }),
        2 => prop::collection::vec(edit(), 1..4).prop_map(JsonDamage::Text),
    ]
}

/// `doc` with `damage` applied, as the text a parser receives.
pub fn damage_json(mut doc: Value, damage: &JsonDamage) -> String {
    match damage {
        JsonDamage::WrongType { at, with } => {
            replace_node(&mut doc, *at, |_| with.clone());
            doc.to_string()
        }
        JsonDamage::Deep { at, depth, as_object } => {
            replace_node(&mut doc, *at, |old| nest(old, *depth, *as_object));
            doc.to_string()
        }
        JsonDamage::Text(edits) => apply_edits(&doc.to_string(), edits),
    }
}
