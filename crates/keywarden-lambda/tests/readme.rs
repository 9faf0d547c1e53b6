//! The README is the operator's manual: its configuration table must list every variable the
//! function reads, with the default the code really uses.

use keywarden_core::config::VARIABLES;

#[test]
fn readme_documents_every_variable_with_its_default() {
    let readme = include_str!("../../../README.md");
    for (name, default, _) in VARIABLES {
        let default = if default.starts_with('(') { default.to_string() } else { format!("`{default}`") };
        let row = format!("| `{name}` | {default} |");
        assert!(readme.contains(&row), "README.md lacks the row `{row}`");
    }
}
