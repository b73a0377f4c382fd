//! Fields read out of a platform's JSON by JSON Pointer (RFC 6901).
//!
//! `serde_json::Value::pointer` unescapes every token into a new `String`
//! (two `replace` calls per token), which made about 34 allocations of a
//! Lark request (BENCHMARKS.md); these read the same fields and allocate
//! only for a token that holds an escape (`~0`, `~1`).

use std::borrow::Cow;

use serde_json::Value;

/// The value at `pointer`, as `Value::pointer` finds it.
pub fn value_at<'a>(json: &'a Value, pointer: &str) -> Option<&'a Value> {
    if pointer.is_empty() {
        return Some(json);
    }
    pointer.strip_prefix('/')?.split('/').try_fold(json, |target, token| {
        let token = if token.contains('~') {
            Cow::Owned(token.replace("~1", "/").replace("~0", "~"))
        } else {
            Cow::Borrowed(token)
        };
        match target {
            Value::Object(map) => map.get(token.as_ref()),
            Value::Array(list) => array_index(&token).and_then(|index| list.get(index)),
            _ => None,
        }
    })
}

/// A non-empty string at `pointer`.
pub fn string_at<'a>(json: &'a Value, at: &str) -> Option<&'a str> {
    value_at(json, at).and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// An array index as RFC 6901 writes it: decimal digits, no sign, no
/// leading zero.
fn array_index(token: &str) -> Option<usize> {
    if token.starts_with('+') || (token.starts_with('0') && token.len() > 1) {
        return None;
    }
    token.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pointers_find_what_serde_jsons_pointer_finds() {
        let document = json!({
            "header": {"event_id": "e1", "token": ""},
            "a/b": {"m~n": [10, {"x": "deep"}]},
            "list": [1, 2, 3],
            "": {"": "empty keys"},
        });
        for at in [
            "",
            "/header",
            "/header/event_id",
            "/header/token",
            "/header/missing",
            "/a~1b/m~0n/1/x",
            "/a~1b/m~0n/0",
            "/list/2",
            "/list/3",
            "/list/01",
            "/list/+1",
            "/list/-",
            "/list/x",
            "//",
            "/",
            "header",
            "/header/event_id/more",
            "/a~1b/m~0n/~",
        ] {
            assert_eq!(value_at(&document, at), document.pointer(at), "{at:?}");
        }
        assert_eq!(string_at(&document, "/header/event_id"), Some("e1"));
        assert_eq!(string_at(&document, "/header/token"), None, "empty is absent");
        assert_eq!(string_at(&document, "/list/0"), None, "not a string");
    }
}
