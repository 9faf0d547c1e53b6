//! The `*`/`?` glob matcher of IAM patterns (actions, resources, string and ARN conditions),
//! with policy-variable substitution.
//!
//! One matcher, over any element type: tokens for patterns with variables, plain bytes for the
//! allocation-free path the evaluator takes for nearly every pattern.

use super::request::Request;

/// One element of a pattern after substitution: a literal character, `*` or `?`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tok {
    /// A character to match as itself.
    Lit(char),
    /// `*`: any run of characters, also none.
    Star,
    /// `?`: exactly one character.
    One,
}

/// Turns a policy pattern into glob tokens, substituting policy variables.
pub(crate) fn tokenize(
    pattern: &str,
    req: &Request,
    substitute: bool,
    wildcards: bool,
) -> Result<Vec<Tok>, String> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = Vec::with_capacity(chars.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if substitute && c == '$' && chars.get(i + 1) == Some(&'{') {
            if let Some(end) = chars[i + 2..].iter().position(|&c| c == '}') {
                let name: String = chars[i + 2..i + 2 + end].iter().collect();
                match name.trim() {
                    "*" | "?" | "$" => out.extend(name.trim().chars().map(Tok::Lit)),
                    n if n.eq_ignore_ascii_case("aws:username") => {
                        out.extend(req.username.chars().map(Tok::Lit))
                    }
                    _ => return Err(format!("unsupported policy variable ${{{name}}}")),
                }
                i += end + 3;
                continue;
            }
        }
        out.push(match c {
            '*' if wildcards => Tok::Star,
            '?' if wildcards => Tok::One,
            c => Tok::Lit(c),
        });
        i += 1;
    }
    Ok(out)
}

/// Whether `text` matches a tokenised pattern.
pub(crate) fn glob(pattern: &[Tok], text: &[char], case_insensitive: bool) -> bool {
    let eq = |a: char, b: char| if case_insensitive { a.eq_ignore_ascii_case(&b) } else { a == b };
    glob_with(
        pattern,
        text,
        |t| match t {
            Tok::Star => Wild::Star,
            Tok::One => Wild::One,
            Tok::Lit(_) => Wild::Lit,
        },
        |t, c| matches!(t, Tok::Lit(x) if eq(*x, *c)),
    )
}

/// What a pattern element is to the matcher.
pub(crate) enum Wild {
    /// Matches any run.
    Star,
    /// Matches one element.
    One,
    /// Matches an equal element.
    Lit,
}

/// The one `*`/`?` matcher (greedy with backtracking to the last star), over any pattern
/// and text element types: tokens and chars for policy patterns with variables, plain bytes
/// for the allocation-free fast path.
pub(crate) fn glob_with<P, T>(
    pattern: &[P],
    text: &[T],
    kind: impl Fn(&P) -> Wild,
    eq: impl Fn(&P, &T) -> bool,
) -> bool {
    let (mut p, mut t) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p).map(|x| (kind(x), x)) {
            Some((Wild::One, _)) => {
                p += 1;
                t += 1;
            }
            Some((Wild::Lit, x)) if eq(x, &text[t]) => {
                p += 1;
                t += 1;
            }
            Some((Wild::Star, _)) => {
                star = Some((p, t));
                p += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p.min(pattern.len())..].iter().all(|x| matches!(kind(x), Wild::Star))
}

/// Matches a tokenised pattern against text; with `arn_aware` (the Arn* condition
/// operators), ARNs with six colon-separated parts are compared part by part, so a
/// wildcard does not cross a colon there, as IAM documents for ArnLike/ArnEquals.
pub(crate) fn match_tokens(pattern: &[Tok], text: &str, case_insensitive: bool, arn_aware: bool) -> bool {
    let text_chars: Vec<char> = text.chars().collect();
    if arn_aware && text.starts_with("arn:") {
        let pat_parts = split_tokens(pattern, 6);
        let txt_parts = split_chars(&text_chars, 6);
        if pat_parts.len() == 6 && txt_parts.len() == 6 {
            return pat_parts.iter().zip(txt_parts.iter()).all(|(p, t)| glob(p, t, case_insensitive));
        }
    }
    glob(pattern, &text_chars, case_insensitive)
}

fn split_tokens(tokens: &[Tok], n: usize) -> Vec<Vec<Tok>> {
    let mut parts = vec![Vec::new()];
    for t in tokens {
        if *t == Tok::Lit(':') && parts.len() < n {
            parts.push(Vec::new());
        } else if let Some(last) = parts.last_mut() {
            last.push(*t);
        }
    }
    parts
}

fn split_chars(chars: &[char], n: usize) -> Vec<Vec<char>> {
    let mut parts = vec![Vec::new()];
    for c in chars {
        if *c == ':' && parts.len() < n {
            parts.push(Vec::new());
        } else if let Some(last) = parts.last_mut() {
            last.push(*c);
        }
    }
    parts
}

/// Actions contain no policy variables; `*` and `?` are wildcards; the match ignores case.
/// Called for every statement of every probe, so it works on bytes without allocating
/// (action names are ASCII; anything else simply does not match).
pub(crate) fn action_matches(pattern: &str, action: &str) -> bool {
    byte_glob(pattern.as_bytes(), action.as_bytes(), true)
}

/// `*`/`?` glob over ASCII bytes, without allocating.
pub(crate) fn byte_glob(p: &[u8], t: &[u8], case_insensitive: bool) -> bool {
    let eq = |a: &u8, b: &u8| if case_insensitive { a.eq_ignore_ascii_case(b) } else { a == b };
    glob_with(
        p,
        t,
        |b| match b {
            b'*' => Wild::Star,
            b'?' => Wild::One,
            _ => Wild::Lit,
        },
        eq,
    )
}
/// A pattern without policy variables as tokens (`*` and `?` are wildcards).
pub(crate) fn plain_tokens(pattern: &str) -> Vec<Tok> {
    pattern
        .chars()
        .map(|c| match c {
            '*' => Tok::Star,
            '?' => Tok::One,
            c => Tok::Lit(c),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// The allocation-free matcher agrees with the general one it short-cuts.
        #[test]
        fn byte_glob_agrees_with_the_tokenised_glob(
            pattern in "[a-c*?:/]{0,12}",
            text in "[a-cA-C:/]{0,12}",
        ) {
            let req = Request::new("s3:GetObject", &text, "alice");
            let toks = tokenize(&pattern, &req, false, true).expect("no variables");
            proptest::prop_assert_eq!(
                byte_glob(pattern.as_bytes(), text.as_bytes(), false),
                match_tokens(&toks, &text, false, false)
            );
            proptest::prop_assert_eq!(
                byte_glob(pattern.as_bytes(), text.as_bytes(), true),
                match_tokens(&toks, &text, true, false)
            );
        }
    }
}
