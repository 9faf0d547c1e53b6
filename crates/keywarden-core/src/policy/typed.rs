//! The typed condition values: numbers, dates and IP networks, as IAM's Numeric, Date and
//! IP operators read them. Kept exact (no `f64`), since a rounding error is a wrong verdict.

use super::operator::BaseOperator as B;

/// A decimal number as IAM's Numeric operators read it (`[+-]digits[.digits]`), compared
/// exactly: `f64` would call 9007199254740993 and 9007199254740992 equal.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Decimal {
    negative: bool,
    /// Integer digits without leading zeros (`""` for zero).
    int: String,
    /// Fraction digits without trailing zeros.
    frac: String,
}

impl Decimal {
    fn parse(text: &str) -> Option<Decimal> {
        let t = text.trim();
        let (negative, digits) = match t.as_bytes().first() {
            Some(b'-') => (true, &t[1..]),
            Some(b'+') => (false, &t[1..]),
            _ => (false, t),
        };
        let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
        let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if (int.is_empty() && frac.is_empty()) || !all_digits(int) || !all_digits(frac) {
            return None;
        }
        let int = int.trim_start_matches('0').to_string();
        let frac = frac.trim_end_matches('0').to_string();
        let negative = negative && !(int.is_empty() && frac.is_empty());
        Some(Decimal { negative, int, frac })
    }
}

impl PartialOrd for Decimal {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Decimal {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        let magnitude = self
            .int
            .len()
            .cmp(&other.int.len())
            .then_with(|| self.int.cmp(&other.int))
            .then_with(|| self.frac.cmp(&other.frac));
        match (self.negative, other.negative) {
            (false, false) => magnitude,
            (true, true) => magnitude.reverse(),
            (false, true) => std::cmp::Ordering::Greater,
            (true, false) => std::cmp::Ordering::Less,
        }
    }
}

/// A Date operator value: epoch seconds, or the W3C profile of ISO 8601 that AWS documents
/// for policies (`2020-01-01`, `2020-01-01T00:00Z`, `2020-01-01T00:00:00Z`, with fractional
/// seconds or a `+hh:mm` offset). A date-time without a zone is read as UTC.
fn parse_date(text: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
    let t = text.trim();
    let digits = t.strip_prefix('-').unwrap_or(t);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        return t.parse::<i64>().ok().and_then(|s| DateTime::from_timestamp(s, 0));
    }
    if let Ok(d) = NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        return d.and_hms_opt(0, 0, 0).map(|n| n.and_utc());
    }
    if let Ok(d) = DateTime::parse_from_rfc3339(t) {
        return Some(d.with_timezone(&Utc));
    }
    if let Ok(d) = DateTime::parse_from_str(t, "%Y-%m-%dT%H:%M%:z") {
        return Some(d.with_timezone(&Utc));
    }
    let naive = t.strip_suffix('Z').or_else(|| t.strip_suffix('z')).unwrap_or(t);
    ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(naive, f).ok())
        .map(|n| n.and_utc())
}

/// An `IpAddress` operand: an IPv4 or IPv6 network in CIDR notation, or one address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum IpNet {
    V4(u32, u8),
    V6(u128, u8),
}

impl IpNet {
    fn parse(text: &str) -> Option<IpNet> {
        let t = text.trim();
        let (addr, prefix) = match t.split_once('/') {
            Some((a, p)) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
                (a, Some(p.parse::<u8>().ok()?))
            }
            Some(_) => return None,
            None => (t, None),
        };
        match addr.parse::<std::net::IpAddr>().ok()? {
            std::net::IpAddr::V4(a) => {
                let p = prefix.unwrap_or(32);
                (p <= 32).then_some(IpNet::V4(u32::from(a), p))
            }
            std::net::IpAddr::V6(a) => {
                let p = prefix.unwrap_or(128);
                (p <= 128).then_some(IpNet::V6(u128::from(a), p))
            }
        }
    }

    /// Whether `addr` (an address, as the request carries it) lies in this network. IPv4 and
    /// IPv6 are separate: an IPv4 network does not contain an IPv4-mapped IPv6 address.
    fn contains(&self, addr: std::net::IpAddr) -> bool {
        match (self, addr) {
            (IpNet::V4(net, p), std::net::IpAddr::V4(a)) => {
                let mask = if *p == 0 { 0 } else { u32::MAX << (32 - u32::from(*p)) };
                (u32::from(a) & mask) == (net & mask)
            }
            (IpNet::V6(net, p), std::net::IpAddr::V6(a)) => {
                let mask = if *p == 0 { 0 } else { u128::MAX << (128 - u32::from(*p)) };
                (u128::from(a) & mask) == (net & mask)
            }
            _ => false,
        }
    }
}

/// For the typed operators (Numeric, Date, IP), whether each context value matches any
/// condition value in the operator's positive form. `None` when a value on either side does
/// not parse as the operator's type: IAM then treats the condition as not matching.
pub(crate) fn typed_matches(base: B, context: &[String], values: &[String]) -> Option<Vec<bool>> {
    use std::cmp::Ordering::{Equal, Greater, Less};
    let holds = |o: std::cmp::Ordering| -> bool {
        match base {
            B::NumericEquals | B::NumericNotEquals | B::DateEquals | B::DateNotEquals => o == Equal,
            B::NumericLessThan | B::DateLessThan => o == Less,
            B::NumericLessThanEquals | B::DateLessThanEquals => o != Greater,
            B::NumericGreaterThan | B::DateGreaterThan => o == Greater,
            B::NumericGreaterThanEquals | B::DateGreaterThanEquals => o != Less,
            _ => false,
        }
    };
    let numeric = matches!(
        base,
        B::NumericEquals
            | B::NumericNotEquals
            | B::NumericLessThan
            | B::NumericLessThanEquals
            | B::NumericGreaterThan
            | B::NumericGreaterThanEquals
    );
    let date = matches!(
        base,
        B::DateEquals
            | B::DateNotEquals
            | B::DateLessThan
            | B::DateLessThanEquals
            | B::DateGreaterThan
            | B::DateGreaterThanEquals
    );
    if numeric {
        let cond: Vec<Decimal> = values.iter().map(|v| Decimal::parse(v)).collect::<Option<_>>()?;
        let ctx: Vec<Decimal> = context.iter().map(|v| Decimal::parse(v)).collect::<Option<_>>()?;
        Some(ctx.iter().map(|x| cond.iter().any(|c| holds(x.cmp(c)))).collect())
    } else if date {
        let cond: Vec<_> = values.iter().map(|v| parse_date(v)).collect::<Option<_>>()?;
        let ctx: Vec<_> = context.iter().map(|v| parse_date(v)).collect::<Option<_>>()?;
        Some(ctx.iter().map(|x| cond.iter().any(|c| holds(x.cmp(c)))).collect())
    } else {
        let cond: Vec<IpNet> = values.iter().map(|v| IpNet::parse(v)).collect::<Option<_>>()?;
        let ctx: Vec<std::net::IpAddr> =
            context.iter().map(|v| v.trim().parse().ok()).collect::<Option<_>>()?;
        Some(ctx.iter().map(|a| cond.iter().any(|n| n.contains(*a))).collect())
    }
}
