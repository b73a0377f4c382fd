//! Fields read out of a platform's JSON.
//!
//! Providers read a request's body as a *view*: a struct declared with
//! [`json_object!`](crate::json_object) that names only the fields it uses
//! (verification, event id, kind, tenant, message and alert views), strings
//! borrowed from the body. Nothing else of the body is kept, and no
//! `serde_json::Value` tree is built: the Envelope's payload is the body's
//! own bytes ([`crate::envelope::Payload`]).
//!
//! A view reads exactly what `Value` would, field for field: a field of the
//! wrong type or a container where an object was expected reads as absent
//! (as `value.get(..).and_then(Value::as_str)` would), the last of two equal
//! keys wins, and the parts the view does not name are still checked as
//! strictly as a `Value` parse checks them ([`Checked`]: escapes and
//! surrogates, UTF-8, numbers in range, the nesting limit). So a body is
//! refused, with the same error at the same position, exactly when
//! `serde_json::from_slice::<Value>` would refuse it.
//!
//! [`value_at`] and [`string_at`] read a `Value` by JSON Pointer (RFC 6901)
//! for what still holds one (constructed payloads, tools).

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;
use std::ops::Range;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Number, Value};

use crate::error::IngressError;

#[doc(hidden)]
pub use serde as __serde;

/// Reads a request body as the view `T`: a 400 that says why, in the words
/// a `Value` parse of the same bytes would use, when it is not JSON.
pub fn read_body<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, IngressError> {
    read_text(body).map(|(_, view)| view)
}

/// [`read_body`], and the body as text (for [`crate::envelope::Payload`]).
pub fn read_text<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<(&'a str, T), IngressError> {
    let text = text_of(body)?;
    read_str(text).map(|view| (text, view))
}

/// A body as text, or, when it is not UTF-8, the refusal a `Value` parse of
/// it gives (where, and why).
pub fn text_of(body: &[u8]) -> Result<&str, IngressError> {
    std::str::from_utf8(body).map_err(|_| {
        let error = serde_json::from_slice::<Checked>(body).err().unwrap_or_else(not_utf8);
        IngressError::malformed(format!("body is not valid JSON ({error})"))
    })
}

/// Reads JSON text as the view `T`, refused as [`read_body`] refuses.
pub fn read_str<'a, T: Deserialize<'a>>(text: &'a str) -> Result<T, IngressError> {
    serde_json::from_str(text).map_err(|e| IngressError::malformed(format!("body is not valid JSON ({e})")))
}

/// Bytes as text, or the refusal [`read_body`] gives them when they are not
/// UTF-8 (a decrypted body, say).
pub fn into_text(bytes: Vec<u8>) -> Result<String, IngressError> {
    String::from_utf8(bytes).map_err(|e| match read_body::<Checked>(e.as_bytes()) {
        Err(refusal) => refusal,
        Ok(_) => IngressError::malformed(format!("body is not valid JSON ({})", not_utf8())),
    })
}

fn not_utf8() -> serde_json::Error {
    de::Error::custom("invalid unicode code point")
}

/// A JSON value a view does not keep, checked as a `Value` parse checks it
/// (escapes, UTF-8, numbers in range, the nesting limit), without building
/// anything.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Checked;

impl<'de> Deserialize<'de> for Checked {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(CheckedVisitor)
    }
}

struct CheckedVisitor;

impl<'de> Visitor<'de> for CheckedVisitor {
    type Value = Checked;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_str<E>(self, _: &str) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_unit<E>(self) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_none<E>(self) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Checked, D::Error> {
        Checked::deserialize(deserializer)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Checked, A::Error> {
        while seq.next_element::<Checked>()?.is_some() {}
        Ok(Checked)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Checked, A::Error> {
        while map.next_key::<Key<'de>>()?.is_some() {
            map.next_value::<Checked>()?;
        }
        Ok(Checked)
    }
}

/// An object's key, borrowed from the body unless it holds an escape.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Key<'a>(pub Cow<'a, str>);

impl std::ops::Deref for Key<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Key<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // Read as a field's string is, borrowed unless it holds an escape.
        match deserializer.deserialize_str(FieldVisitor(PhantomData))? {
            Field::String(key) => Ok(Key(key)),
            _ => Err(de::Error::invalid_type(de::Unexpected::Other("a value that is not a string"), &"an object key")),
        }
    }
}

/// One field as a provider reads it: strings borrowed from the body, numbers
/// kept, containers noted (and checked) but not kept. Absent when the body
/// has no such field.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Field<'a> {
    #[default]
    Absent,
    Null,
    Bool(bool),
    Number(Number),
    String(Cow<'a, str>),
    Array,
    Object,
}

impl<'a> Field<'a> {
    /// The string, as `Value::as_str` gives it.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Field::String(text) => Some(text),
            _ => None,
        }
    }

    /// A non-empty string, as [`string_at`] gives it.
    pub fn text(&self) -> Option<&str> {
        self.as_str().filter(|text| !text.is_empty())
    }

    pub fn as_number(&self) -> Option<&Number> {
        match self {
            Field::Number(number) => Some(number),
            _ => None,
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        self.as_number().and_then(Number::as_i64)
    }

    pub fn as_u64(&self) -> Option<u64> {
        self.as_number().and_then(Number::as_u64)
    }

    pub fn is_absent(&self) -> bool {
        matches!(self, Field::Absent)
    }

    /// Absent or null, as `None | Some(Value::Null)` matches.
    pub fn is_absent_or_null(&self) -> bool {
        matches!(self, Field::Absent | Field::Null)
    }

    pub fn is_object(&self) -> bool {
        matches!(self, Field::Object)
    }

    /// The scalar as the `Value` it was (containers and absence: None), for
    /// the few fields an Envelope carries over as they are.
    pub fn to_value(&self) -> Option<Value> {
        match self {
            Field::Null => Some(Value::Null),
            Field::Bool(b) => Some(Value::Bool(*b)),
            Field::Number(n) => Some(Value::Number(n.clone())),
            Field::String(s) => Some(Value::String(s.to_string())),
            Field::Absent | Field::Array | Field::Object => None,
        }
    }
}

/// Reads any JSON value as a [`Field`], a string borrowed from the body
/// unless it holds an escape; an object's [`Key`] is read as its string.
struct FieldVisitor<'a>(PhantomData<&'a str>);

impl<'de: 'a, 'a> Visitor<'de> for FieldVisitor<'a> {
    type Value = Field<'a>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, b: bool) -> Result<Field<'a>, E> {
        Ok(Field::Bool(b))
    }
    fn visit_i64<E>(self, n: i64) -> Result<Field<'a>, E> {
        Ok(Field::Number(n.into()))
    }
    fn visit_u64<E>(self, n: u64) -> Result<Field<'a>, E> {
        Ok(Field::Number(n.into()))
    }
    fn visit_f64<E>(self, n: f64) -> Result<Field<'a>, E> {
        // serde_json hands over finite numbers only; null as Value's
        // own fallback would be.
        Ok(Number::from_f64(n).map_or(Field::Null, Field::Number))
    }
    fn visit_borrowed_str<E>(self, text: &'de str) -> Result<Field<'a>, E> {
        Ok(Field::String(Cow::Borrowed(text)))
    }
    fn visit_str<E>(self, text: &str) -> Result<Field<'a>, E> {
        Ok(Field::String(Cow::Owned(text.to_string())))
    }
    fn visit_unit<E>(self) -> Result<Field<'a>, E> {
        Ok(Field::Null)
    }
    fn visit_none<E>(self) -> Result<Field<'a>, E> {
        Ok(Field::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Field<'a>, D::Error> {
        Field::deserialize(deserializer)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Field<'a>, A::Error> {
        CheckedVisitor.visit_seq(seq).map(|_| Field::Array)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Field<'a>, A::Error> {
        CheckedVisitor.visit_map(map).map(|_| Field::Object)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Field<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(FieldVisitor(PhantomData))
    }
}

/// How a view's field takes the value of its key: replaced by a later equal
/// key, as in a `Value` (every type here but [`Every`], which keeps them all).
pub trait Slot<'de> {
    fn fill<A: MapAccess<'de>>(&mut self, map: &mut A) -> Result<(), A::Error>;
}

impl<'de: 'a, 'a> Slot<'de> for Field<'a> {
    fn fill<A: MapAccess<'de>>(&mut self, map: &mut A) -> Result<(), A::Error> {
        *self = map.next_value()?;
        Ok(())
    }
}

impl<'de> Slot<'de> for Checked {
    fn fill<A: MapAccess<'de>>(&mut self, map: &mut A) -> Result<(), A::Error> {
        map.next_value::<Checked>().map(|_| ())
    }
}

impl<'de, T: Deserialize<'de> + Default> Slot<'de> for First<T> {
    fn fill<A: MapAccess<'de>>(&mut self, map: &mut A) -> Result<(), A::Error> {
        *self = map.next_value()?;
        Ok(())
    }
}

/// A field whose presence matters (`value.get(key).is_some()`), whatever
/// its value: `Some` as soon as the key is there, null included.
impl<'de, T: Deserialize<'de>> Slot<'de> for Option<T> {
    fn fill<A: MapAccess<'de>>(&mut self, map: &mut A) -> Result<(), A::Error> {
        *self = Some(map.next_value::<T>()?);
        Ok(())
    }
}

/// Every value of a key that may repeat, in order: the last is what a
/// `Value` holds ([`Every::last`]); the others are what a `Value` drops but
/// the body's bytes still carry (a secret to cut from the payload).
#[derive(Clone, Debug, PartialEq)]
pub struct Every<T>(pub Vec<T>);

impl<T> Default for Every<T> {
    fn default() -> Self {
        Every(Vec::new())
    }
}

impl<T> Every<T> {
    /// The value a `Value` would hold.
    pub fn last(&self) -> Option<&T> {
        self.0.last()
    }
}

impl<'a> Every<Field<'a>> {
    /// Where each value is in `json`, quotes included, when every one is a
    /// string without escapes read from `json` (borrowed from it): else
    /// None, and [`member_values`] finds them.
    pub fn string_spans(&self, json: &str) -> Option<Vec<Range<usize>>> {
        self.0
            .iter()
            .map(|value| match value {
                Field::String(Cow::Borrowed(text)) => {
                    let inner = span_in(json, text)?;
                    let quoted = inner.start.checked_sub(1)?..inner.end + 1;
                    let bytes = json.as_bytes();
                    (bytes.get(quoted.start) == Some(&b'"') && bytes.get(inner.end) == Some(&b'"')).then_some(quoted)
                }
                _ => None,
            })
            .collect()
    }
}

impl<'de, T: Deserialize<'de>> Slot<'de> for Every<T> {
    fn fill<A: MapAccess<'de>>(&mut self, map: &mut A) -> Result<(), A::Error> {
        self.0.push(map.next_value()?);
        Ok(())
    }
}

/// What a view declared with [`json_object!`](crate::json_object) does with
/// one key of its object: read it into a field, or leave it to be checked.
pub trait ReadFields<'de>: Default {
    /// Reads the value of `key` when it is one of the view's fields (a
    /// later equal key overwrites it, as in a `Value`); false when it is not.
    fn read_field<A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<bool, A::Error>;
    /// Marks the view as read from an object.
    fn set_object(&mut self);
}

/// Reads a view: its fields from an object; any other value (checked) gives
/// the view with every field absent, as `Value::get` on a non-object does.
pub struct ObjectVisitor<T>(PhantomData<T>);

impl<T> ObjectVisitor<T> {
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        ObjectVisitor(PhantomData)
    }
}

impl<'de, T: ReadFields<'de>> Visitor<'de> for ObjectVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<T, A::Error> {
        let mut view = T::default();
        view.set_object();
        while let Some(key) = map.next_key::<Key<'de>>()? {
            if !view.read_field(&key, &mut map)? {
                map.next_value::<Checked>()?;
            }
        }
        Ok(view)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<T, A::Error> {
        CheckedVisitor.visit_seq(seq).map(|_| T::default())
    }
    fn visit_bool<E>(self, _: bool) -> Result<T, E> {
        Ok(T::default())
    }
    fn visit_i64<E>(self, _: i64) -> Result<T, E> {
        Ok(T::default())
    }
    fn visit_u64<E>(self, _: u64) -> Result<T, E> {
        Ok(T::default())
    }
    fn visit_f64<E>(self, _: f64) -> Result<T, E> {
        Ok(T::default())
    }
    fn visit_str<E>(self, _: &str) -> Result<T, E> {
        Ok(T::default())
    }
    fn visit_unit<E>(self) -> Result<T, E> {
        Ok(T::default())
    }
    fn visit_none<E>(self) -> Result<T, E> {
        Ok(T::default())
    }
    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<T, D::Error> {
        deserializer.deserialize_any(self)
    }
}

/// The first element of an array read as `T` (the rest checked): what
/// `value_at(json, "/list/0")` reads. Default when the value is not an
/// array or is empty.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct First<T>(pub T);

impl<'de, T: Deserialize<'de> + Default> Deserialize<'de> for First<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FirstVisitor<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de> + Default> Visitor<'de> for FirstVisitor<T> {
            type Value = First<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<First<T>, A::Error> {
                let first = seq.next_element::<T>()?.unwrap_or_default();
                while seq.next_element::<Checked>()?.is_some() {}
                Ok(First(first))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<First<T>, A::Error> {
                CheckedVisitor.visit_map(map).map(|_| First::default())
            }
            fn visit_bool<E>(self, _: bool) -> Result<First<T>, E> {
                Ok(First::default())
            }
            fn visit_i64<E>(self, _: i64) -> Result<First<T>, E> {
                Ok(First::default())
            }
            fn visit_u64<E>(self, _: u64) -> Result<First<T>, E> {
                Ok(First::default())
            }
            fn visit_f64<E>(self, _: f64) -> Result<First<T>, E> {
                Ok(First::default())
            }
            fn visit_str<E>(self, _: &str) -> Result<First<T>, E> {
                Ok(First::default())
            }
            fn visit_unit<E>(self) -> Result<First<T>, E> {
                Ok(First::default())
            }
        }
        deserializer.deserialize_any(FirstVisitor(PhantomData))
    }
}

/// Declares a view of a JSON object: a struct with one field per key it
/// names, each read with its own type ([`Field`], another view, [`First`],
/// [`Checked`]), every other key checked and skipped. See the module's
/// documentation for what it reads the same as a `Value`.
///
/// A field is its name alone when it reads the key of that name as a
/// [`Field`]; `name = "key"` reads another key, `name: Type` another type.
///
/// ```
/// inlet_shared::json_object! {
///     pub struct Header<'a> {
///         pub event_id, kind = "type",
///         pub tokens: inlet_shared::json::Every<inlet_shared::json::Field<'a>> = "token",
///     }
/// }
/// let header: Header = serde_json::from_str(r#"{"event_id": "e1", "type": "t", "other": [1]}"#).unwrap();
/// assert_eq!((header.event_id.text(), header.kind.text()), (Some("e1"), Some("t")));
/// ```
#[macro_export]
macro_rules! json_object {
    (@type $lt:lifetime) => { $crate::json::Field<$lt> };
    (@type $lt:lifetime $type:ty) => { $type };
    (@key $field:ident) => { stringify!($field) };
    (@key $field:ident $key:literal) => { $key };
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident<$lt:lifetime> {
            $( $(#[$field_meta:meta])* $field_vis:vis $field:ident $(: $type:ty)? $(= $key:literal)? ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Debug, Default)]
        $vis struct $name<$lt> {
            $( $(#[$field_meta])* $field_vis $field: $crate::json_object!(@type $lt $($type)?), )*
            /// Whether the value was an object (when not, every field is absent).
            pub is_object: bool,
            _borrows: ::core::marker::PhantomData<&$lt str>,
        }

        impl<'de: $lt, $lt> $crate::json::ReadFields<'de> for $name<$lt> {
            fn read_field<A: $crate::json::__serde::de::MapAccess<'de>>(
                &mut self,
                key: &str,
                map: &mut A,
            ) -> ::core::result::Result<bool, A::Error> {
                match key {
                    $( $crate::json_object!(@key $field $($key)?) => $crate::json::Slot::fill(&mut self.$field, map)?, )*
                    _ => return Ok(false),
                }
                Ok(true)
            }

            fn set_object(&mut self) {
                self.is_object = true;
            }
        }

        impl<'de: $lt, $lt> $crate::json::Slot<'de> for $name<$lt> {
            fn fill<A: $crate::json::__serde::de::MapAccess<'de>>(
                &mut self,
                map: &mut A,
            ) -> ::core::result::Result<(), A::Error> {
                *self = map.next_value()?;
                Ok(())
            }
        }

        impl<'de: $lt, $lt> $crate::json::__serde::Deserialize<'de> for $name<$lt> {
            fn deserialize<D: $crate::json::__serde::Deserializer<'de>>(
                deserializer: D,
            ) -> ::core::result::Result<Self, D::Error> {
                deserializer.deserialize_any($crate::json::ObjectVisitor::<Self>::new())
            }
        }
    };
}

/// Where `inner`, a slice of `outer`, lies in it.
pub fn span_in(outer: &str, inner: &str) -> Option<Range<usize>> {
    let start = (inner.as_ptr() as usize).checked_sub(outer.as_ptr() as usize)?;
    let end = start.checked_add(inner.len())?;
    (end <= outer.len()).then_some(start..end)
}

/// The members of an object, each value as its text, borrowed; nothing for
/// any other value.
struct Members<'a>(Vec<(Key<'a>, &'a RawValue)>);

impl<'de> Deserialize<'de> for Members<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MembersVisitor;
        impl<'de> Visitor<'de> for MembersVisitor {
            type Value = Members<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members<'de>, A::Error> {
                let mut members = Vec::new();
                while let Some(key) = map.next_key::<Key<'de>>()? {
                    members.push((key, map.next_value::<&'de RawValue>()?));
                }
                Ok(Members(members))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Members<'de>, A::Error> {
                while seq.next_element::<de::IgnoredAny>()?.is_some() {}
                Ok(Members(Vec::new()))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Members<'de>, E> {
                Ok(Members(Vec::new()))
            }
            fn visit_i64<E>(self, _: i64) -> Result<Members<'de>, E> {
                Ok(Members(Vec::new()))
            }
            fn visit_u64<E>(self, _: u64) -> Result<Members<'de>, E> {
                Ok(Members(Vec::new()))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Members<'de>, E> {
                Ok(Members(Vec::new()))
            }
            fn visit_str<E>(self, _: &str) -> Result<Members<'de>, E> {
                Ok(Members(Vec::new()))
            }
            fn visit_unit<E>(self) -> Result<Members<'de>, E> {
                Ok(Members(Vec::new()))
            }
        }
        deserializer.deserialize_any(MembersVisitor)
    }
}

/// Where, in `json`, the values of every member named `name` are, in the
/// objects that `path` leads to from the top (each key of it taken at every
/// occurrence: a repeated key's earlier values are in the bytes too).
pub fn member_values(json: &str, path: &[&str], name: &str) -> Result<Vec<Range<usize>>, serde_json::Error> {
    fn walk(
        root: &str,
        object: &str,
        path: &[&str],
        name: &str,
        found: &mut Vec<Range<usize>>,
    ) -> serde_json::Result<()> {
        let Members(members) = serde_json::from_str(object)?;
        for (key, value) in members {
            match path.split_first() {
                None if *key == *name => found.extend(span_in(root, value.get())),
                Some((first, rest)) if *key == **first => walk(root, value.get(), rest, name, found)?,
                _ => {}
            }
        }
        Ok(())
    }
    let mut found = Vec::new();
    walk(json, json, path, name, &mut found)?;
    Ok(found)
}

/// `json` without the members whose values are at `values` (spans into it,
/// as [`member_values`] and [`Every::string_spans`] give them), each with
/// its key and the comma that joined it to a neighbour: still one JSON
/// value, now without those members. `json` must be valid JSON.
///
/// The members go one at a time, the last first, each with the comma before
/// it, or, when it is its object's first, the comma after it: each step
/// leaves valid JSON, and the places of the members still to go (all before
/// it) are unchanged. None when a span is not where a string or scalar
/// member value can be (see [`member_cut`]).
pub fn without_members(json: &str, values: &[Range<usize>]) -> Option<String> {
    if let [value] = values {
        // One member (the usual case): one copy of what stays.
        let cut = member_cut(json.as_bytes(), value)?;
        let mut out = String::with_capacity(json.len() - cut.len());
        out.push_str(&json[..cut.start]);
        out.push_str(&json[cut.end..]);
        return Some(out);
    }
    let mut values = values.to_vec();
    values.sort_by_key(|value| value.start);
    values.dedup();
    let mut out = json.to_string();
    for value in values.iter().rev() {
        let cut = member_cut(out.as_bytes(), value)?;
        out.replace_range(cut, "");
    }
    Some(out)
}

/// JSON's whitespace.
pub fn is_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | b'\r')
}

/// The bytes to remove with the member whose value is at `value`, in valid
/// JSON `bytes`. Checked, not assumed, so that a span from anywhere gives
/// either a whole member or None: the value is one string literal (no
/// unescaped quote inside) or a scalar or container as `member_values`
/// places it, after `"key" :` whose key is one string literal, after `{` or
/// `,`. In valid JSON a `:` outside strings only ever follows a key, so what
/// passes is a member, and taking it with one adjacent comma leaves valid
/// JSON.
fn member_cut(bytes: &[u8], value: &Range<usize>) -> Option<Range<usize>> {
    let skip_back = |mut at: usize| {
        while at > 0 && is_space(bytes[at - 1]) {
            at -= 1;
        }
        at
    };
    let skip = |mut at: usize| {
        while at < bytes.len() && is_space(bytes[at]) {
            at += 1;
        }
        at
    };
    let literal = bytes.get(value.clone())?;
    match literal {
        [b'"', inner @ .., b'"'] => {
            // One literal: its opening quote is a delimiter, every quote
            // inside is escaped.
            if escaped(bytes, value.start) || unescaped_quote(inner).is_some() {
                return None;
            }
        }
        [first, ..] if !is_space(*first) && *first != b'"' => {}
        _ => return None,
    }
    let colon = skip_back(value.start).checked_sub(1)?;
    if bytes[colon] != b':' {
        return None;
    }
    let closing_quote = skip_back(colon).checked_sub(1)?;
    if bytes[closing_quote] != b'"' || escaped(bytes, closing_quote) {
        return None;
    }
    let key = unescaped_quote_back(&bytes[..closing_quote])?;
    let before = skip_back(key);
    match before.checked_sub(1).map(|at| bytes[at]) {
        // `, "key": value`: the comma before goes with it.
        Some(b',') => Some(before - 1..value.end),
        // The object's first member: the comma after goes with it.
        Some(b'{') => {
            let after = skip(value.end);
            Some(if bytes.get(after) == Some(&b',') { key..skip(after + 1) } else { key..value.end })
        }
        _ => None,
    }
}

/// Whether the quote at `at` is escaped: an odd run of backslashes before it.
fn escaped(bytes: &[u8], at: usize) -> bool {
    bytes[..at].iter().rev().take_while(|&&b| b == b'\\').count() % 2 == 1
}

/// The first quote in `bytes` that is not escaped.
fn unescaped_quote(bytes: &[u8]) -> Option<usize> {
    memchr::memchr_iter(b'"', bytes).find(|&at| !escaped(bytes, at))
}

/// The last quote in `bytes` that is not escaped.
fn unescaped_quote_back(bytes: &[u8]) -> Option<usize> {
    memchr::memrchr_iter(b'"', bytes).find(|&at| !escaped(bytes, at))
}

/// `json` without every member `name` of the objects `path` leads to (see
/// [`member_values`]): a secret a platform repeats in its body, cut from the
/// payload. `found` is where a view read those members, when it could place
/// every one ([`Every::string_spans`]); else they are looked up.
pub fn without(
    json: &str,
    path: &[&str],
    name: &str,
    found: Option<Vec<Range<usize>>>,
) -> Result<String, serde_json::Error> {
    let values = match found {
        Some(values) => values,
        None => member_values(json, path, name)?,
    };
    if values.is_empty() {
        return Ok(json.to_string());
    }
    without_members(json, &values).ok_or_else(|| de::Error::custom("a member to cut is not where it was read"))
}

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
    use proptest::prelude::*;
    use serde_json::json;

    crate::json_object! {
        struct Header<'a> { token: Every<Field<'a>>, id }
    }

    crate::json_object! {
        struct Doc<'a> {
            kind = "type", header: Every<Header<'a>>, token: Every<Field<'a>>,
            present: Option<Checked>, first: First<Header<'a>> = "list",
        }
    }

    /// A container as a mark: a view notes it, without keeping it.
    fn shape(value: Value) -> Value {
        match value {
            Value::Array(_) => json!("<array>"),
            Value::Object(_) => json!("<object>"),
            other => other,
        }
    }

    fn field_shape(field: &Field) -> Option<Value> {
        match field {
            Field::Array => Some(json!("<array>")),
            Field::Object => Some(json!("<object>")),
            other => other.to_value(),
        }
    }

    /// What `Value` reads of the same fields.
    fn value_reads(json: &Value) -> (Option<Value>, Option<Value>, Option<Value>, bool, Option<Value>) {
        let get = |pointer: &str| value_at(json, pointer).cloned().map(shape);
        (get("/type"), get("/header/id"), get("/token"), json.get("present").is_some(), get("/list/0/id"))
    }

    fn view_reads(doc: &Doc) -> (Option<Value>, Option<Value>, Option<Value>, bool, Option<Value>) {
        let header = doc.header.last();
        (
            field_shape(&doc.kind),
            header.and_then(|h| field_shape(&h.id)),
            doc.token.last().and_then(field_shape),
            doc.present.is_some(),
            field_shape(&doc.first.0.id),
        )
    }

    /// Text around a few shapes of the fields a view reads, each field of
    /// any type, keys repeated, with whatever breaks JSON spliced in.
    fn documents() -> impl Strategy<Value = String> {
        let scalar = prop_oneof![
            Just("null".to_string()),
            Just("true".to_string()),
            Just("1e400".to_string()),
            Just("-0".to_string()),
            Just("12345678901234567890123".to_string()),
            Just(r#""\ud800""#.to_string()),
            Just(r#""t\u006fk""#.to_string()),
            any::<i64>().prop_map(|n| n.to_string()),
            any::<String>().prop_map(|s| Value::from(s).to_string()),
        ];
        let value = scalar.prop_recursive(3, 16, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(|items| format!("[{}]", items.join(","))),
                prop::collection::vec(
                    (prop::sample::select(vec!["id", "token", "tok\\u0065n", "x", "type"]), inner),
                    0..4
                )
                .prop_map(|members| {
                    let members: Vec<String> = members.iter().map(|(k, v)| format!("\"{k}\": {v}")).collect();
                    format!("{{{}}}", members.join(" ,"))
                }),
            ]
        });
        let key = prop::sample::select(vec!["type", "header", "token", "present", "list", "other"]);
        (prop::collection::vec((key, value), 0..6), prop::option::of((any::<usize>(), any::<String>()))).prop_map(
            |(members, breakage)| {
                let members: Vec<String> = members.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
                let mut text = format!("{{{}}}", members.join(", "));
                if let Some((at, junk)) = breakage {
                    let mut at = at % (text.len() + 1);
                    while !text.is_char_boundary(at) {
                        at -= 1;
                    }
                    text.insert_str(at, &junk);
                }
                text
            },
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: 2048,
            failure_persistence: None,
            rng_seed: proptest::test_runner::RngSeed::Fixed(0x15_0a),
            ..ProptestConfig::default()
        })]

        /// A view refuses exactly what a `Value` parse refuses, with the same
        /// error, and reads what the `Value` holds.
        #[test]
        fn a_view_reads_what_a_value_reads_and_refuses_what_it_refuses(text in documents()) {
            let value = serde_json::from_str::<Value>(&text);
            let view = serde_json::from_str::<Doc>(&text);
            let checked = serde_json::from_str::<Checked>(&text);
            match (&value, &view) {
                (Ok(value), Ok(doc)) => prop_assert_eq!(value_reads(value), view_reads(doc)),
                (Err(a), Err(b)) => prop_assert_eq!(a.to_string(), b.to_string()),
                _ => prop_assert!(false, "Value: {value:?}, view: {view:?}"),
            }
            prop_assert_eq!(value.as_ref().err().map(ToString::to_string), checked.err().map(|e| e.to_string()));
            let from_bytes = read_body::<Doc>(text.as_bytes()).map(|_| ()).map_err(|e| e.to_string());
            let expected = serde_json::from_slice::<Value>(text.as_bytes())
                .map(|_| ())
                .map_err(|e| IngressError::malformed(format!("body is not valid JSON ({e})")).to_string());
            prop_assert_eq!(from_bytes, expected);
        }

        /// Cutting every `token` of the top level and of each `header` leaves
        /// valid JSON that reads as the `Value` with those members removed.
        #[test]
        fn cutting_members_leaves_the_rest_as_it_was(text in documents()) {
            let Ok(value) = serde_json::from_str::<Value>(&text) else { return Ok(()) };
            let doc: Doc = serde_json::from_str(&text).unwrap();
            for (path, found) in [
                (&[][..], doc.token.string_spans(&text)),
                (&["header"][..], doc.header.0.iter().map(|h| h.token.string_spans(&text)).collect::<Option<Vec<_>>>().map(|s| s.concat())),
            ] {
                let looked_up = member_values(&text, path, "token").unwrap();
                if let Some(found) = &found {
                    prop_assert_eq!(found, &looked_up, "the view places the members where the lookup finds them");
                }
                let cut = without(&text, path, "token", found).unwrap();
                let mut expected = value.clone();
                match path {
                    [] => { expected.as_object_mut().map(|o| o.remove("token")); }
                    _ => { expected.get_mut("header").and_then(Value::as_object_mut).map(|o| o.remove("token")); }
                }
                let read: Value = serde_json::from_str(&cut).map_err(|e| TestCaseError::fail(format!("{e}: {cut}")))?;
                prop_assert_eq!(&read, &expected, "{}", cut);
                prop_assert!(RawValue::from_string(cut.clone()).is_ok());
            }
        }
    }

    #[test]
    fn a_view_borrows_its_strings_and_keeps_every_repeated_value() {
        let text = r#"{"header": {"token": "a", "id": "x\u0079"}, "header": 5, "token": "t1", "token": 2}"#;
        let doc: Doc = serde_json::from_str(text).unwrap();
        assert_eq!(doc.header.0.len(), 2);
        assert!(matches!(doc.header.0[0].token.last(), Some(Field::String(Cow::Borrowed("a")))));
        assert_eq!(doc.header.0[0].id.as_str(), Some("xy"), "an escape is read, owned");
        assert!(!doc.header.0[1].is_object && doc.header.last().unwrap().id.is_absent());
        assert_eq!(doc.token.0, [Field::String(Cow::Borrowed("t1")), Field::Number(2.into())]);
        assert_eq!(doc.token.string_spans(text), None, "a number is not placed: the lookup finds it");
        let cut = without(text, &[], "token", None).unwrap();
        assert_eq!(cut, r#"{"header": {"token": "a", "id": "x\u0079"}, "header": 5}"#);
    }

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
