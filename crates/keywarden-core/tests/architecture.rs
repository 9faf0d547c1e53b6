//! The core's shape, checked: its modules import one another in one direction, and no
//! source file grows into several concerns.
//!
//! `lib.rs` and `docs/ARCHITECTURE.md` promise a pipeline (inventory → checks → report);
//! a cycle between two modules is where that promise quietly breaks, so it is a test
//! failure rather than a review comment. The graph is read from the source text: every
//! `crate::…` and `super::…` path outside comments, at two levels (between the crate's
//! top-level modules, and between the files of one folder).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// No non-test source file much over 500 lines: past that a file holds two concerns.
const MAX_LINES: usize = 520;

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file under `src/`, with its module path (`rotation::planner`; `""` for lib.rs).
fn modules() -> Vec<(String, String)> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in fs::read_dir(dir).expect("src is readable") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let root = src_dir();
    let mut files = Vec::new();
    walk(&root, &mut files);
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let rel = path.strip_prefix(&root).expect("under src").with_extension("");
            let mut parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().into_owned()).collect();
            if parts.last().is_some_and(|p| p == "mod" || p == "lib") {
                parts.pop();
            }
            (parts.join("::"), fs::read_to_string(&path).expect("readable source"))
        })
        .collect()
}

/// The code of a file without its comments (doc links name modules without importing them).
fn code(text: &str) -> String {
    text.lines()
        .map(|l| match l.find("//") {
            Some(i) if !l[..i].contains('"') => &l[..i],
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The paths named after each `prefix::` in `code`, braces expanded one level:
/// `crate::{a::B, c}` gives `a::B` and `c`.
fn paths_after(code: &str, prefix: &str) -> Vec<String> {
    let ident = |s: &str| -> String {
        s.chars().take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':').collect::<String>()
    };
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find(prefix) {
        let before = rest[..i].chars().last();
        rest = &rest[i + prefix.len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
            continue;
        }
        if let Some(group) = rest.strip_prefix('{') {
            let (mut depth, mut end) = (1, group.len());
            for (j, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    _ => {}
                }
                if depth == 0 {
                    end = j;
                    break;
                }
            }
            let mut depth = 0;
            let mut item = String::new();
            for c in group[..end].chars() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        out.push(ident(item.trim()));
                        item.clear();
                        continue;
                    }
                    _ => {}
                }
                item.push(c);
            }
            out.push(ident(item.trim()));
        } else {
            out.push(ident(rest));
        }
    }
    out.into_iter().map(|p| p.trim_end_matches(':').to_string()).filter(|p| !p.is_empty()).collect()
}

/// lib.rs's `pub use module::{Name, …}`: `crate::Name` is an import of `module`.
fn reexports(lib: &str) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    for line in code(lib).lines() {
        let Some(rest) = line.trim().strip_prefix("pub use ") else { continue };
        let rest = rest.trim_end_matches(';');
        let Some((module, names)) = rest.split_once("::") else { continue };
        for name in names.trim_matches(|c| c == '{' || c == '}').split(',') {
            let name = name.trim().rsplit("::").next().unwrap_or("").to_string();
            if !name.is_empty() {
                map.insert(name, module.to_string());
            }
        }
    }
    map
}

/// Edges between top-level modules, and between sibling files of one folder.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let mods = modules();
    let top: BTreeSet<String> = mods
        .iter()
        .filter_map(|(m, _)| m.split("::").next().filter(|s| !s.is_empty()))
        .map(String::from)
        .collect();
    let all: BTreeSet<&str> = mods.iter().map(|(m, _)| m.as_str()).collect();
    let lib = &mods.iter().find(|(m, _)| m.is_empty()).expect("lib.rs").1;
    let reexported = reexports(lib);
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (module, text) in &mods {
        if module.is_empty() {
            continue;
        }
        let code = code(text);
        let segments: Vec<&str> = module.split("::").collect();
        let mut targets: Vec<Vec<String>> = Vec::new();
        for p in paths_after(&code, "crate::") {
            let mut parts: Vec<String> = p.split("::").map(String::from).collect();
            if let Some(m) = reexported.get(&parts[0]).filter(|_| !top.contains(&parts[0])) {
                parts.insert(0, m.clone());
            }
            targets.push(parts);
        }
        // `super::x` in `a/b.rs` (module `a::b`) and in `a/b/mod.rs` alike names `a::x`.
        let parent: Vec<String> = segments[..segments.len() - 1].iter().map(|s| s.to_string()).collect();
        for p in paths_after(&code, "super::") {
            let mut parts = parent.clone();
            parts.extend(p.split("::").map(String::from));
            targets.push(parts);
        }
        for target in targets {
            let Some(first) = target.first() else { continue };
            if !top.contains(first) {
                continue;
            }
            if first != segments[0] {
                edges.entry(segments[0].to_string()).or_default().insert(first.clone());
            } else if segments.len() >= 2 && target.len() >= 2 {
                // Files deeper in a folder count as the folder's first-level file they sit in.
                let from = segments[..2].join("::");
                let to = format!("{}::{}", target[0], target[1]);
                if all.contains(to.as_str()) && to != from {
                    edges.entry(from).or_default().insert(to);
                }
            }
        }
    }
    edges
}

/// A cycle in `edges`, if there is one, as the list of modules around it.
fn find_cycle(edges: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        stack: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = stack.iter().position(|n| n == node) {
            let mut cycle = stack[i..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        stack.push(node.to_string());
        for next in edges.get(node).into_iter().flatten() {
            if let Some(c) = visit(next, edges, stack, done) {
                return Some(c);
            }
        }
        stack.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    edges.keys().find_map(|n| visit(n, edges, &mut Vec::new(), &mut done))
}

#[test]
fn the_core_modules_import_one_another_in_one_direction() {
    let edges = graph();
    // The scan must see the pipeline's known imports, or it proves nothing.
    for (from, to) in [("checks", "model"), ("report", "checks"), ("rotation::planner", "rotation::live")] {
        assert!(edges.get(from).is_some_and(|t| t.contains(to)), "the scan missed {from} → {to}: {edges:#?}");
    }
    assert_eq!(find_cycle(&edges), None, "module graph: {edges:#?}");
}

#[test]
fn the_cycle_finder_finds_a_planted_cycle() {
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    edges.entry("a".into()).or_default().insert("b".into());
    edges.entry("b".into()).or_default().insert("c".into());
    assert_eq!(find_cycle(&edges), None);
    edges.entry("c".into()).or_default().insert("a".into());
    assert_eq!(find_cycle(&edges), Some(vec!["a".into(), "b".into(), "c".into(), "a".into()]));
}

#[test]
fn the_scanner_reads_grouped_and_reexported_imports() {
    let code =
        "use crate::{checks::{Finding, CheckStatus}, model::Inventory};\nlet x = crate::Report::new();";
    assert_eq!(paths_after(code, "crate::"), vec!["checks", "model::Inventory", "Report::new"]);
    assert_eq!(
        reexports("pub use report::Report;\npub use model::{Inventory, Collected};")["Report"],
        "report"
    );
}

#[test]
fn no_source_file_holds_several_concerns() {
    let long: Vec<(String, usize)> = modules()
        .into_iter()
        .map(|(m, text)| (m, text.lines().count()))
        .filter(|(_, n)| *n > MAX_LINES)
        .collect();
    assert!(long.is_empty(), "files over {MAX_LINES} lines: {long:?}");
}
