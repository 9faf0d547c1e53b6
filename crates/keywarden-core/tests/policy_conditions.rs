//! Condition operators as AWS documents them (IAM User Guide, "IAM JSON policy elements:
//! Condition operators" and "Single-valued vs. multivalued context keys"), one example at a
//! time: each test is an Allow with one condition, and the request either gets it or not.

use keywarden_core::policy::{evaluate, Decision, PolicyDocument, Request};

/// An Allow of `s3:GetObject` on everything, granted only under `operator: {key: values}`.
fn allow_if(operator: &str, key: &str, values: &str) -> PolicyDocument {
    let text = format!(
        r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Allow","Action":"s3:GetObject","Resource":"*",
            "Condition":{{"{operator}":{{"{key}":{values}}}}}}}}}"#
    );
    PolicyDocument::parse(&text).expect("test policy parses")
}

/// Whether the condition lets the request through: `Some(values)` sets the key, `None` leaves
/// it out of the request.
fn granted(doc: &PolicyDocument, key: &str, values: Option<&[&str]>) -> bool {
    let mut req = Request::new("s3:GetObject", "arn:aws:s3:::bucket/key", "alice");
    if let Some(values) = values {
        req.context.insert(key.to_string(), values.iter().map(|v| v.to_string()).collect());
    }
    match evaluate(std::slice::from_ref(doc), &req) {
        Decision::Allowed => true,
        Decision::ImplicitlyDenied => false,
        other => panic!("{key} = {values:?}: expected a definite answer, got {other:?}"),
    }
}

fn one(doc: &PolicyDocument, key: &str, value: &str) -> bool {
    granted(doc, key, Some(&[value]))
}

// --- Numeric ---------------------------------------------------------------------------------

#[test]
fn numeric_less_than_mfa_age_is_a_recent_mfa_sign_in() {
    // AWS's example: allow only if MFA was used in the last hour.
    let doc = allow_if("NumericLessThan", "aws:MultiFactorAuthAge", r#""3600""#);
    assert!(one(&doc, "aws:MultiFactorAuthAge", "0"));
    assert!(one(&doc, "aws:MultiFactorAuthAge", "3599"));
    assert!(!one(&doc, "aws:MultiFactorAuthAge", "3600"), "strictly less");
    assert!(!one(&doc, "aws:MultiFactorAuthAge", "86400"));
    // A long-term access key has no MFA age at all: the condition does not match.
    assert!(!granted(&doc, "aws:MultiFactorAuthAge", None));
    // A JSON number in the policy is the same as the string.
    let number = allow_if("NumericLessThan", "aws:MultiFactorAuthAge", "3600");
    assert!(one(&number, "aws:MultiFactorAuthAge", "10"));
    assert!(!one(&number, "aws:MultiFactorAuthAge", "3600"));
    // A value that is not a number does not match, on either side.
    assert!(!one(&doc, "aws:MultiFactorAuthAge", "recent"));
    assert!(!one(&doc, "aws:MultiFactorAuthAge", ""));
    let bad = allow_if("NumericLessThan", "aws:MultiFactorAuthAge", r#""one hour""#);
    assert!(!one(&bad, "aws:MultiFactorAuthAge", "1"));
}

#[test]
fn numeric_operators_compare_decimals_exactly() {
    /// Operator, policy value, and request values with whether each is granted.
    type Case<'a> = (&'a str, &'a str, &'a [(&'a str, bool)]);
    let cases: &[Case<'_>] = &[
        (
            "NumericEquals",
            "10",
            &[("10", true), ("10.0", true), ("010", true), ("11", false), ("-10", false)],
        ),
        ("NumericNotEquals", "10", &[("10", false), ("10.00", false), ("9", true)]),
        ("NumericLessThanEquals", "10", &[("10", true), ("9.999", true), ("10.001", false)]),
        ("NumericGreaterThan", "-1.5", &[("-1", true), ("-1.5", false), ("-2", false), ("0", true)]),
        ("NumericGreaterThanEquals", "0", &[("0", true), ("-0", true), ("0.0001", true), ("-0.0001", false)]),
        // Beyond f64's 53 bits: these differ by one.
        ("NumericEquals", "9007199254740993", &[("9007199254740992", false), ("9007199254740993", true)]),
        ("NumericLessThan", "9007199254740993", &[("9007199254740992", true)]),
    ];
    for (op, limit, requests) in cases {
        let doc = allow_if(op, "s3:max-keys", &format!("\"{limit}\""));
        for (value, expected) in *requests {
            assert_eq!(one(&doc, "s3:max-keys", value), *expected, "{op} {limit} against {value}");
        }
    }
    // Several policy values: any of them.
    let doc = allow_if("NumericEquals", "s3:max-keys", r#"["10","20"]"#);
    assert!(one(&doc, "s3:max-keys", "20"));
    assert!(!one(&doc, "s3:max-keys", "15"));
}

#[test]
fn negated_numeric_and_date_operators_match_an_absent_key_and_no_garbage() {
    let num = allow_if("NumericNotEquals", "s3:max-keys", r#""10""#);
    assert!(granted(&num, "s3:max-keys", None), "negated operators match an absent key");
    assert!(!one(&num, "s3:max-keys", "ten"), "an unparsable value does not match, negated or not");
    let date = allow_if("DateNotEquals", "aws:CurrentTime", r#""2020-01-01T00:00:00Z""#);
    assert!(granted(&date, "aws:CurrentTime", None));
    assert!(!one(&date, "aws:CurrentTime", "yesterday"));
    // Positive operators do not; IfExists does.
    assert!(!granted(&allow_if("NumericEquals", "s3:max-keys", r#""10""#), "s3:max-keys", None));
    let if_exists = allow_if("NumericLessThanIfExists", "aws:MultiFactorAuthAge", r#""3600""#);
    assert!(granted(&if_exists, "aws:MultiFactorAuthAge", None));
    assert!(one(&if_exists, "aws:MultiFactorAuthAge", "60"));
    assert!(!one(&if_exists, "aws:MultiFactorAuthAge", "7200"), "IfExists still compares a present key");
}

// --- Date ------------------------------------------------------------------------------------

#[test]
fn date_greater_than_current_time_in_every_documented_format() {
    // AWS's example: allow only after the start of 2020.
    let doc = allow_if("DateGreaterThan", "aws:CurrentTime", r#""2020-01-01T00:00:00Z""#);
    assert!(one(&doc, "aws:CurrentTime", "2020-01-01T00:00:01Z"));
    assert!(!one(&doc, "aws:CurrentTime", "2020-01-01T00:00:00Z"), "strictly greater");
    assert!(!one(&doc, "aws:CurrentTime", "2019-12-31T23:59:59Z"));
    // Offsets are honoured: 00:30 at +01:00 is 23:30 the day before in UTC.
    assert!(!one(&doc, "aws:CurrentTime", "2020-01-01T00:30:00+01:00"));
    assert!(one(&doc, "aws:CurrentTime", "2019-12-31T23:30:00-01:00"));
    // Epoch seconds: 1577836800 is 2020-01-01T00:00:00Z.
    assert!(one(&doc, "aws:CurrentTime", "1577836801"));
    assert!(!one(&doc, "aws:CurrentTime", "1577836800"));
    assert!(one(&doc, "aws:CurrentTime", "2020-01-01T00:00:00.5Z"), "fractional seconds");
    assert!(!one(&doc, "aws:CurrentTime", "not a date"));
    // The policy may give a date alone (midnight UTC) or epoch seconds.
    let date_only = allow_if("DateGreaterThanEquals", "aws:CurrentTime", r#""2020-01-01""#);
    assert!(one(&date_only, "aws:CurrentTime", "2020-01-01T00:00:00Z"));
    assert!(!one(&date_only, "aws:CurrentTime", "2019-12-31T23:59:59Z"));
    let epoch = allow_if("DateLessThan", "aws:CurrentTime", "1577836800");
    assert!(one(&epoch, "aws:CurrentTime", "2019-06-30T12:00:00Z"));
    assert!(!one(&epoch, "aws:CurrentTime", "2020-06-30T12:00:00Z"));
    // Minutes without seconds (W3C profile).
    let minutes = allow_if("DateEquals", "aws:CurrentTime", r#""2020-01-01T10:15Z""#);
    assert!(one(&minutes, "aws:CurrentTime", "2020-01-01T10:15:00Z"));
    let bad = allow_if("DateLessThan", "aws:CurrentTime", r#""2020-13-45""#);
    assert!(!one(&bad, "aws:CurrentTime", "2019-01-01T00:00:00Z"), "an impossible date matches nothing");
}

#[test]
fn date_window_of_two_conditions() {
    // AWS's example "allows access within a specific date range".
    let doc = PolicyDocument::parse(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"*",
            "Condition":{"DateGreaterThan":{"aws:CurrentTime":"2020-04-01T00:00:00Z"},
                         "DateLessThan":{"aws:CurrentTime":"2020-06-30T23:59:59Z"}}}}"#,
    )
    .expect("parses");
    assert!(one(&doc, "aws:CurrentTime", "2020-05-15T12:00:00Z"));
    assert!(!one(&doc, "aws:CurrentTime", "2020-07-01T00:00:00Z"));
    assert!(!one(&doc, "aws:CurrentTime", "2020-03-31T23:59:59Z"));
}

// --- IpAddress -------------------------------------------------------------------------------

#[test]
fn ip_address_ipv4_and_ipv6_networks() {
    // AWS's example: "203.0.113.0/24" and "2001:DB8:1234:5678::/64".
    let doc = allow_if("IpAddress", "aws:SourceIp", r#"["203.0.113.0/24","2001:DB8:1234:5678::/64"]"#);
    assert!(one(&doc, "aws:SourceIp", "203.0.113.0"));
    assert!(one(&doc, "aws:SourceIp", "203.0.113.255"));
    assert!(!one(&doc, "aws:SourceIp", "203.0.114.1"));
    assert!(!one(&doc, "aws:SourceIp", "203.0.112.255"));
    assert!(one(&doc, "aws:SourceIp", "2001:db8:1234:5678::1"), "IPv6 is case-insensitive");
    assert!(one(&doc, "aws:SourceIp", "2001:DB8:1234:5678:FFFF:FFFF:FFFF:FFFF"));
    assert!(!one(&doc, "aws:SourceIp", "2001:db8:1234:5679::1"));
    assert!(!one(&doc, "aws:SourceIp", "::ffff:203.0.113.7"), "an IPv4-mapped IPv6 address is IPv6");
    assert!(!one(&doc, "aws:SourceIp", "vpc-1234"), "not an address: no match");
    assert!(!granted(&doc, "aws:SourceIp", None));
    // One address without a prefix is a /32; a host address with a prefix is its network.
    let host = allow_if("IpAddress", "aws:SourceIp", r#""198.51.100.7""#);
    assert!(one(&host, "aws:SourceIp", "198.51.100.7"));
    assert!(!one(&host, "aws:SourceIp", "198.51.100.8"));
    let unaligned = allow_if("IpAddress", "aws:SourceIp", r#""198.51.100.7/30""#);
    assert!(one(&unaligned, "aws:SourceIp", "198.51.100.4"));
    assert!(!one(&unaligned, "aws:SourceIp", "198.51.100.8"));
    let everything = allow_if("IpAddress", "aws:SourceIp", r#""0.0.0.0/0""#);
    assert!(one(&everything, "aws:SourceIp", "192.0.2.1"));
    assert!(!one(&everything, "aws:SourceIp", "2001:db8::1"));
}

#[test]
fn not_ip_address_matches_outside_the_network_and_on_an_absent_key() {
    let doc = allow_if("NotIpAddress", "aws:SourceIp", r#""203.0.113.0/24""#);
    assert!(one(&doc, "aws:SourceIp", "192.0.2.1"));
    assert!(!one(&doc, "aws:SourceIp", "203.0.113.9"));
    assert!(granted(&doc, "aws:SourceIp", None), "a call from an AWS service carries no aws:SourceIp");
    // A network that does not parse makes the condition not match, negated or not.
    for bad in [r#""203.0.113.0/33""#, r#""203.0.113/24""#, r#""office""#, r#""2001:db8::/129""#] {
        for op in ["IpAddress", "NotIpAddress"] {
            assert!(!one(&allow_if(op, "aws:SourceIp", bad), "aws:SourceIp", "203.0.113.9"), "{op} {bad}");
        }
    }
}

// --- Set qualifiers --------------------------------------------------------------------------

#[test]
fn for_all_values_string_like_tag_keys() {
    // AWS's example: only tag keys starting with key1 or key2 may be sent.
    let doc = allow_if("ForAllValues:StringLike", "aws:TagKeys", r#"["key1*","key2*"]"#);
    assert!(granted(&doc, "aws:TagKeys", Some(&["key1a", "key2b"])));
    assert!(granted(&doc, "aws:TagKeys", Some(&["key1"])));
    assert!(!granted(&doc, "aws:TagKeys", Some(&["key1a", "other"])), "every value must match");
    // AWS's warning: ForAllValues also matches a request without the key, or with no values.
    assert!(granted(&doc, "aws:TagKeys", None));
    assert!(granted(&doc, "aws:TagKeys", Some(&[])));
}

#[test]
fn for_any_value_string_equals_tag_keys() {
    let doc = allow_if("ForAnyValue:StringEquals", "aws:TagKeys", r#"["environment","cost-center"]"#);
    assert!(granted(&doc, "aws:TagKeys", Some(&["environment", "owner"])));
    assert!(granted(&doc, "aws:TagKeys", Some(&["cost-center"])));
    assert!(!granted(&doc, "aws:TagKeys", Some(&["Environment"])), "StringEquals is case-sensitive");
    assert!(!granted(&doc, "aws:TagKeys", Some(&["owner", "team"])));
    // ForAnyValue does not match an absent key or an empty set; with IfExists it does.
    assert!(!granted(&doc, "aws:TagKeys", None));
    assert!(!granted(&doc, "aws:TagKeys", Some(&[])));
    let if_exists = allow_if("ForAnyValue:StringEqualsIfExists", "aws:TagKeys", r#""environment""#);
    assert!(granted(&if_exists, "aws:TagKeys", None));
    assert!(!granted(&if_exists, "aws:TagKeys", Some(&["owner"])));
}

#[test]
fn negated_operators_under_set_qualifiers_test_each_value() {
    // ForAllValues:StringNotEquals: no request value may be one of the listed.
    let all = allow_if("ForAllValues:StringNotEquals", "aws:TagKeys", r#"["secret","admin"]"#);
    assert!(granted(&all, "aws:TagKeys", Some(&["team", "owner"])));
    assert!(!granted(&all, "aws:TagKeys", Some(&["team", "secret"])));
    assert!(granted(&all, "aws:TagKeys", None));
    // ForAnyValue:StringNotEquals: at least one request value is not one of the listed.
    let any = allow_if("ForAnyValue:StringNotEquals", "aws:TagKeys", r#"["secret","admin"]"#);
    assert!(granted(&any, "aws:TagKeys", Some(&["secret", "team"])));
    assert!(!granted(&any, "aws:TagKeys", Some(&["secret", "admin"])));
    assert!(!granted(&any, "aws:TagKeys", None), "ForAnyValue never matches an absent key");
    // Without a qualifier a negated operator matches when no value is listed.
    let plain = allow_if("StringNotEquals", "aws:TagKeys", r#"["secret"]"#);
    assert!(!granted(&plain, "aws:TagKeys", Some(&["team", "secret"])));
    assert!(granted(&plain, "aws:TagKeys", Some(&["team", "owner"])));
}

#[test]
fn set_qualifiers_work_with_typed_operators_too() {
    let doc = allow_if("ForAllValues:IpAddress", "aws:SourceIp", r#""10.0.0.0/8""#);
    assert!(granted(&doc, "aws:SourceIp", Some(&["10.1.1.1", "10.2.2.2"])));
    assert!(!granted(&doc, "aws:SourceIp", Some(&["10.1.1.1", "192.0.2.1"])));
    let any = allow_if("ForAnyValue:NumericGreaterThan", "s3:max-keys", r#""100""#);
    assert!(granted(&any, "s3:max-keys", Some(&["5", "500"])));
    assert!(!granted(&any, "s3:max-keys", Some(&["5", "50"])));
    assert!(!granted(&any, "s3:max-keys", Some(&["5", "many"])), "one unparsable value: no match");
}

#[test]
fn string_equals_ignore_case_and_null_under_a_qualifier() {
    let doc = allow_if("StringEqualsIgnoreCase", "aws:PrincipalTag/team", r#""Platform""#);
    assert!(one(&doc, "aws:PrincipalTag/team", "PLATFORM"));
    assert!(!one(&doc, "aws:PrincipalTag/team", "platforms"));
    let not = allow_if("StringNotEqualsIgnoreCase", "aws:PrincipalTag/team", r#""Platform""#);
    assert!(!one(&not, "aws:PrincipalTag/team", "platform"));
    assert!(granted(&not, "aws:PrincipalTag/team", None));
    // Null with a set qualifier has no documented meaning: unknown, not guessed.
    let null = allow_if("ForAllValues:Null", "aws:TagKeys", r#""true""#);
    let req = Request::new("s3:GetObject", "*", "alice");
    assert!(matches!(evaluate(&[null], &req), Decision::Unknown(r) if r.contains("ForAllValues:Null")));
}

#[test]
fn a_deny_outside_the_office_network_example() {
    // AWS's "Denies access to AWS based on the source IP", with ViaAWSService.
    let doc = PolicyDocument::parse(
        r#"{"Version":"2012-10-17","Statement":[
            {"Effect":"Allow","Action":"*","Resource":"*"},
            {"Effect":"Deny","Action":"*","Resource":"*","Condition":{
                "NotIpAddress":{"aws:SourceIp":["192.0.2.0/24","203.0.113.0/24"]},
                "Bool":{"aws:ViaAWSService":"false"}}}]}"#,
    )
    .expect("parses");
    let from = |ip: &str| {
        Request::new("ec2:RunInstances", "*", "alice")
            .with_context("aws:SourceIp", ip)
            .with_context("aws:ViaAWSService", "false")
    };
    assert_eq!(evaluate(std::slice::from_ref(&doc), &from("203.0.113.10")), Decision::Allowed);
    assert_eq!(evaluate(std::slice::from_ref(&doc), &from("198.51.100.1")), Decision::ExplicitlyDenied);
    let via_service = from("198.51.100.1").with_context("aws:ViaAWSService", "true");
    assert_eq!(evaluate(std::slice::from_ref(&doc), &via_service), Decision::Allowed);
}
