//! Text helpers shared by the parsers' error messages.

/// At most `max` characters of `value`, marked with `…` when cut: an error that quotes a
/// 10 MB cell or an 80 KB variable is not one a person reads.
pub(crate) fn shorten(value: &str, max: usize) -> String {
    if value.chars().count() <= max {
        value.to_string()
    } else {
        let mut cut: String = value.chars().take(max).collect();
        cut.push('…');
        cut
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn long_values_are_cut_and_marked_short_ones_kept() {
        assert_eq!(super::shorten("abc", 3), "abc");
        assert_eq!(super::shorten("abcd", 3), "abc…");
        assert_eq!(super::shorten("ééé", 2), "éé…");
    }
}
