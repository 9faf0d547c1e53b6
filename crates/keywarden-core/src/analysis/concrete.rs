//! Concrete requests from patterns: the ARN a probe asks about when a statement names a
//! pattern, so that a finding quotes a request the evaluator really decided.

use crate::policy::{tokenize, Request, Tok};

/// `text` with its policy variables replaced as IAM does before matching (the same
/// `tokenize` the evaluator uses, wildcards kept as written). A variable the evaluator does
/// not know leaves the text as it is: evaluating the probe then reports it as unknown.
pub(crate) fn substituted(text: &str, username: &str, substitute: bool) -> String {
    let req = Request { username: username.to_string(), ..Request::default() };
    match tokenize(text, &req, substitute, false) {
        Ok(tokens) => tokens
            .into_iter()
            .map(|t| match t {
                Tok::Lit(c) => c,
                Tok::Star => '*',
                Tok::One => '?',
            })
            .collect(),
        Err(_) => text.to_string(),
    }
}

/// A concrete ARN for a resource pattern: the account and region parts filled in, other
/// wildcards replaced by a probe name, `${aws:username}` by the user.
pub(crate) fn concrete_resource(
    pattern: &str,
    action: &str,
    username: &str,
    account: &str,
    substitute: bool,
) -> String {
    let service = action.split(':').next().unwrap_or("aws").to_ascii_lowercase();
    if pattern == "*" {
        return format!("arn:aws:{service}:us-east-1:{account}:keywarden-probe");
    }
    let text = substituted(pattern, username, substitute);
    let fill = |part: &str| part.replace('*', "keywarden-probe").replace('?', "x");
    if text.starts_with("arn:") {
        let parts: Vec<&str> = text.splitn(6, ':').collect();
        if parts.len() == 6 {
            let region = if parts[3] == "*" { "us-east-1".to_string() } else { fill(parts[3]) };
            let acct = if parts[4] == "*" { account.to_string() } else { fill(parts[4]) };
            return format!("arn:{}:{}:{region}:{acct}:{}", fill(parts[1]), fill(parts[2]), fill(parts[5]));
        }
    }
    fill(&text)
}
