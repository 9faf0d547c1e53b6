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

/// IAM user and group names: 1–128 of letters, digits and `+=,.@_-`. A text predicate, not a
/// configuration rule: the configuration, the desired state and the event parser all judge
/// names by it, so it lives below all three.
pub fn is_iam_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b))
}

/// An IAM role ARN as `aws:PrincipalArn` carries it: the role's path is part of it, so the
/// secrets' Deny only spares keywarden when the path is right.
pub fn is_role_arn(v: &str) -> bool {
    let parts: Vec<&str> = v.splitn(6, ':').collect();
    let [arn, partition, iam, region, account, resource] = parts.as_slice() else { return false };
    let Some(path_and_name) = resource.strip_prefix("role/") else { return false };
    *arn == "arn"
        && partition.starts_with("aws")
        && *iam == "iam"
        && region.is_empty()
        && account.len() == 12
        && account.bytes().all(|b| b.is_ascii_digit())
        && path_and_name.split('/').all(|seg| !seg.is_empty() && is_iam_name(seg))
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
