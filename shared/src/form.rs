//! URL encoding as senders use it: `application/x-www-form-urlencoded`
//! bodies (Slack's interactions and slash commands, GitHub's `payload=`) and
//! query strings (WeCom's signature parameters).
//!
//! Verification always runs over the raw bytes; these only read fields out of
//! a body that is already proven genuine.

use crate::error::IngressError;

/// Decodes `%XX` escapes; with `plus_as_space`, `+` is a space as in form
/// bodies. An escape that is not two hex digits is kept as written (as
/// browsers and API Gateway do); bytes that are not UTF-8 after decoding are
/// replaced, so the result is always text.
pub fn percent_decode(text: &str, plus_as_space: bool) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: &u8| (*b as char).to_digit(16);
        match bytes[i] {
            b'%' if let (Some(hi), Some(lo)) = (bytes.get(i + 1).and_then(hex), bytes.get(i + 2).and_then(hex)) => {
                out.push((hi * 16 + lo) as u8);
                i += 3;
                continue;
            }
            b'+' if plus_as_space => out.push(b' '),
            other => out.push(other),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The fields of a form-encoded body, in order; a field may repeat. A pair
/// without `=` is a field with an empty value, as browsers send it.
pub fn parse_form(body: &[u8]) -> Result<Vec<(String, String)>, IngressError> {
    let text = std::str::from_utf8(body).map_err(|_| IngressError::malformed("form body is not UTF-8"))?;
    Ok(text
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(key, true), percent_decode(value, true))
        })
        .collect())
}

/// The first value of `name` in a form body's fields.
pub fn form_field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str())
}

/// Encodes `text` for a form body or query string: unreserved characters
/// as they are, a space as `+`, everything else as `%XX`.
pub fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(byte as char),
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// A form body from its fields, the way browsers and the platforms encode it.
pub fn encode_form(fields: &[(&str, &str)]) -> String {
    fields.iter().map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v))).collect::<Vec<_>>().join("&")
}

/// The content type of a request is a form body (parameters ignored).
pub fn is_form(content_type: Option<&str>) -> bool {
    content_type
        .and_then(|value| value.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_plus_decode_as_forms_and_queries_expect() {
        assert_eq!(percent_decode("a%20b+c%2B", true), "a b c+");
        assert_eq!(percent_decode("a%20b+c%2B", false), "a b+c+");
        assert_eq!(percent_decode("100%", true), "100%", "a bare % stays");
        assert_eq!(percent_decode("%zz%4", true), "%zz%4");
        assert_eq!(percent_decode("%E4%BC%81%ff", true), "企\u{fffd}");
    }

    #[test]
    fn forms_keep_order_repeats_and_empty_values() {
        let fields = parse_form(b"payload=%7B%22a%22%3A1%7D&x&y=1&y=2&&z=a+b").unwrap();
        assert_eq!(
            fields,
            [("payload", "{\"a\":1}"), ("x", ""), ("y", "1"), ("y", "2"), ("z", "a b")]
                .map(|(k, v)| (k.to_string(), v.to_string()))
        );
        assert_eq!(form_field(&fields, "y"), Some("1"));
        assert!(parse_form(&[0xff]).is_err());
    }

    #[test]
    fn encoding_round_trips_through_parsing() {
        let text = "/deploy prod & {\"json\": \"+1\"} 企业 ~._-";
        let body = encode_form(&[("text", text), ("a b", "")]);
        assert_eq!(parse_form(body.as_bytes()).unwrap(), [("text".into(), text.into()), ("a b".into(), "".into())]);
    }

    #[test]
    fn form_content_types_are_recognised_with_parameters() {
        assert!(is_form(Some("application/x-www-form-urlencoded; charset=utf-8")));
        assert!(is_form(Some("Application/X-WWW-Form-Urlencoded")));
        assert!(!is_form(Some("application/json")));
        assert!(!is_form(None));
    }
}
