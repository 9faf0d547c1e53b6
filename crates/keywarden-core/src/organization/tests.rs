use super::*;
use crate::config::AccountSelection;

fn account(id: &str, ous: &[&str], tags: &[(&str, &str)]) -> MemberAccount {
    MemberAccount {
        id: id.into(),
        name: format!("name-{id}"),
        active: true,
        ous: ous.iter().map(|s| s.to_string()).collect(),
        tags: tags.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
    }
}

fn ids(selected: &[AccountRef]) -> Vec<&str> {
    selected.iter().map(|a| a.id.as_str()).collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn org() -> Vec<MemberAccount> {
    vec![
        account("333333333333", &["ou-root-prod0001", "r-root"], &[("env", "prod")]),
        account("111111111111", &["ou-root-sand0001", "ou-root-dev00001", "r-root"], &[("env", "dev")]),
        account("222222222222", &["ou-root-prod0001", "r-root"], &[("keywarden", "skip")]),
        MemberAccount { active: false, ..account("444444444444", &["r-root"], &[]) },
    ]
}

#[test]
fn no_filter_selects_every_active_account_sorted_by_id() {
    let (selected, excluded, inactive) = select(&AccountSelection::default(), &org());
    assert_eq!(ids(&selected), ["111111111111", "222222222222", "333333333333"]);
    assert_eq!((excluded, inactive), (0, 1));
}

#[test]
fn inclusions_add_up_and_ous_are_recursive() {
    let selection = AccountSelection {
        include_ous: set(&["ou-root-dev00001"]),
        include_accounts: set(&["333333333333"]),
        ..Default::default()
    };
    let (selected, excluded, _) = select(&selection, &org());
    // 111 sits in a child OU of ou-root-dev00001; 333 is named; 222 matches neither.
    assert_eq!(ids(&selected), ["111111111111", "333333333333"]);
    assert_eq!(excluded, 1);
}

#[test]
fn exclusions_win_over_inclusions() {
    let selection = AccountSelection {
        include_ous: set(&["ou-root-prod0001"]),
        exclude_tags: [("keywarden".to_string(), "skip".to_string())].into_iter().collect(),
        ..Default::default()
    };
    assert_eq!(ids(&select(&selection, &org()).0), ["333333333333"]);
    let selection = AccountSelection {
        include_accounts: set(&["111111111111"]),
        exclude_ous: set(&["r-root"]),
        ..Default::default()
    };
    assert!(select(&selection, &org()).0.is_empty(), "an account below an excluded root is out");
}

#[test]
fn tags_match_by_key_and_value() {
    let selection = AccountSelection {
        include_tags: [("env".to_string(), "prod".to_string())].into_iter().collect(),
        ..Default::default()
    };
    assert_eq!(ids(&select(&selection, &org()).0), ["333333333333"]);
}

#[test]
fn an_inactive_account_is_never_selected_even_when_named() {
    let selection = AccountSelection { include_accounts: set(&["444444444444"]), ..Default::default() };
    let (selected, excluded, inactive) = select(&selection, &org());
    assert!(selected.is_empty());
    assert_eq!((excluded, inactive), (3, 1));
}

#[test]
fn account_refs_from_events_are_validated() {
    assert!(AccountRef { id: "123456789012".into(), name: "prod".into() }.validate().is_ok());
    for bad in ["12345678901", "1234567890123", "12345678901a", "../123456789"] {
        assert!(AccountRef { id: bad.into(), name: "x".into() }.validate().is_err(), "{bad}");
    }
    assert!(AccountRef { id: "123456789012".into(), name: "a\nb".into() }.validate().is_err());
}
