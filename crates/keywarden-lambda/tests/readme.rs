//! The README is the operator's manual: its configuration table must list every variable the
//! function reads, with the default the code really uses and the meaning its definition gives.

use keywarden_core::config::VARIABLES;

#[test]
fn readme_documents_every_variable_with_its_default() {
    let readme = include_str!("../../../README.md");
    let rows: Vec<&str> = readme.lines().filter(|l| l.starts_with("| `")).collect();
    for v in VARIABLES {
        let row = v.readme_row();
        let start = format!("| `{}` |", v.name());
        let found = rows.iter().find(|r| r.starts_with(&start));
        assert!(found.is_some(), "README.md has no row for `{}`", v.name());
        assert_eq!(
            found.map(|r| r.trim_end()),
            Some(row.as_str()),
            "README.md's row differs from the definition"
        );
    }
    // And in the same order, so the table reads as the definitions do.
    let names: Vec<&str> = VARIABLES.iter().map(|v| v.name()).collect();
    let table: Vec<&str> = rows
        .iter()
        .filter_map(|r| r.strip_prefix("| `")?.split('`').next())
        .filter(|n| names.contains(n))
        .collect();
    assert_eq!(table, names, "README.md lists the variables in another order");
}

/// The README's check table is the catalogue as an operator reads it: a check added to the
/// catalogue without a row (or with another severity) would be a check nobody knows to expect.
#[test]
fn readme_lists_every_check_with_its_severity() {
    use keywarden_core::CheckId;
    let readme = include_str!("../../../README.md");
    let section = readme.split("\n## Checks\n").nth(1).and_then(|s| s.split("\n## ").next()).unwrap_or("");
    let rows: Vec<(&str, &str)> = section
        .lines()
        .filter_map(|l| {
            let mut cells = l.strip_prefix("| `")?.split(" | ");
            Some((cells.next()?.trim_end_matches('`'), cells.next()?))
        })
        .collect();
    let expected: Vec<(&str, &str)> =
        CheckId::ALL.iter().map(|c| (c.as_str(), c.meta().severity.as_str())).collect();
    assert_eq!(rows, expected, "README.md's check table differs from the catalogue");
}
