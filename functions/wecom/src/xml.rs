//! WeCom's XML as JSON, the way the payload carries it.
//!
//! - An element with neither child elements nor attributes becomes a
//!   string: its text, CDATA unwrapped, references resolved, kept exactly
//!   (no trimming: a message's text is the sender's). Empty is `""`.
//! - An element with child elements (`<SendLocationInfo>`, `<ExtAttr>`)
//!   becomes an object of them; whitespace between children is layout and
//!   dropped, other text goes to `"#text"`.
//! - An element name that repeats among siblings becomes an array, in
//!   document order (`<Item>` lists).
//! - Attributes (WeCom sends none) become `"@name"` fields.
//!
//! That is xmltodict's mapping (what wechatpy parses with), except that
//! xmltodict trims text and maps an empty element to `None`.
//!
//! Anything that is not one well-formed element is refused: a second root,
//! text outside the root, unclosed or mismatched tags, unknown entities, a
//! DOCTYPE (no DTD is ever read, so no entity expansion), or nesting deeper
//! than [`MAX_DEPTH`] (the Envelope must stay decodable by the processor).

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};
use serde_json::{Map, Value};

/// Deepest element nesting accepted. WeCom's deepest is 4 (`xml` →
/// `ExtAttr` → `Item` → `Text` → `Value`); serde_json's decoder stops at 128.
pub const MAX_DEPTH: usize = 32;

/// One parsed document: the root element's name and its value.
#[derive(Clone, Debug, PartialEq)]
pub struct Document {
    pub root: String,
    pub value: Value,
}

/// An element being read.
struct Open {
    name: String,
    fields: Map<String, Value>,
    has_children: bool,
    has_attributes: bool,
    text: String,
}

impl Open {
    fn new(start: &BytesStart<'_>) -> Result<Self, String> {
        let name = start.name().0.to_string();
        let mut fields = Map::new();
        for attribute in start.attributes() {
            let attribute = attribute.map_err(|e| format!("bad attribute in <{name}>: {e}"))?;
            let value = attribute
                .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .map_err(|e| format!("bad attribute value in <{name}>: {e}"))?;
            fields.insert(format!("@{}", attribute.key.0), Value::String(value.into_owned()));
        }
        let has_attributes = !fields.is_empty();
        Ok(Open { name, fields, has_children: false, has_attributes, text: String::new() })
    }

    fn into_value(self) -> (String, Value) {
        let value = if !self.has_children && !self.has_attributes {
            Value::String(self.text)
        } else {
            let mut fields = self.fields;
            let keep_text = if self.has_children { !self.text.trim().is_empty() } else { !self.text.is_empty() };
            if keep_text {
                fields.insert("#text".into(), Value::String(self.text));
            }
            Value::Object(fields)
        };
        (self.name, value)
    }

    /// Adds a child element. A value is a string or an object, never an
    /// array, so an array under a name can only be one made here from
    /// repeated siblings.
    fn add_child(&mut self, name: String, value: Value) {
        self.has_children = true;
        match self.fields.get_mut(&name) {
            None => {
                self.fields.insert(name, value);
            }
            Some(Value::Array(items)) => items.push(value),
            Some(existing) => {
                let first = std::mem::take(existing);
                *existing = Value::Array(vec![first, value]);
            }
        }
    }
}

/// Parses `text` as one XML element and returns it as JSON.
pub fn parse(text: &str) -> Result<Document, String> {
    let mut reader = Reader::from_str(text);
    let mut stack: Vec<Open> = Vec::new();
    let mut root: Option<(String, Value)> = None;
    loop {
        let event = reader.read_event().map_err(|e| format!("not well-formed XML: {e}"))?;
        match event {
            Event::Start(start) => {
                if root.is_some() {
                    return Err("more than one root element".into());
                }
                if stack.len() >= MAX_DEPTH {
                    return Err(format!("elements nested deeper than {MAX_DEPTH}"));
                }
                stack.push(Open::new(&start)?);
            }
            Event::Empty(start) => {
                if root.is_some() {
                    return Err("more than one root element".into());
                }
                let (name, value) = Open::new(&start)?.into_value();
                close(&mut stack, &mut root, name, value);
            }
            Event::End(_) => {
                // The reader checks that end names match their start.
                let open = stack.pop().ok_or("closing tag without an opening one")?;
                let (name, value) = open.into_value();
                close(&mut stack, &mut root, name, value);
            }
            Event::Text(text) => append(&mut stack, &text.xml10_content())?,
            Event::CData(cdata) => append(&mut stack, &cdata.xml10_content())?,
            Event::GeneralRef(reference) => {
                let resolved = match reference.resolve_char_ref() {
                    Ok(Some(c)) => c,
                    Ok(None) => match &*reference {
                        "lt" => '<',
                        "gt" => '>',
                        "amp" => '&',
                        "apos" => '\'',
                        "quot" => '"',
                        other => return Err(format!("unknown entity &{other};")),
                    },
                    Err(e) => return Err(format!("bad character reference: {e}")),
                };
                append(&mut stack, resolved.encode_utf8(&mut [0; 4]))?;
            }
            Event::DocType(_) => return Err("a DOCTYPE is not accepted".into()),
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err("document ends inside an element".into());
    }
    let (root, value) = root.ok_or("no root element")?;
    Ok(Document { root, value })
}

fn close(stack: &mut [Open], root: &mut Option<(String, Value)>, name: String, value: Value) {
    match stack.last_mut() {
        Some(parent) => parent.add_child(name, value),
        None => *root = Some((name, value)),
    }
}

fn append(stack: &mut [Open], text: &str) -> Result<(), String> {
    match stack.last_mut() {
        Some(open) => {
            open.text.push_str(text);
            Ok(())
        }
        // Whitespace around the root is layout; anything else is not XML.
        None if text.chars().all(char::is_whitespace) => Ok(()),
        None => Err("text outside the root element".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn json_of(text: &str) -> Value {
        parse(text).unwrap().value
    }

    #[test]
    fn flat_elements_are_strings_and_cdata_is_unwrapped() {
        let doc = parse(
            "<xml><ToUserName><![CDATA[ww1]]></ToUserName><CreateTime>1348831860</CreateTime>\
             <Content><![CDATA[ a <b> & c ]]></Content><Empty></Empty><Self/></xml>",
        )
        .unwrap();
        assert_eq!(doc.root, "xml");
        assert_eq!(
            doc.value,
            json!({"ToUserName": "ww1", "CreateTime": "1348831860", "Content": " a <b> & c ", "Empty": "", "Self": ""})
        );
    }

    #[test]
    fn nested_elements_are_objects_and_repeats_are_arrays() {
        let value = json_of(
            "<xml>\n  <SendLocationInfo>\n    <Location_X><![CDATA[23]]></Location_X>\n    <Scale>15</Scale>\n  </SendLocationInfo>\n\
             <ExtAttr><Item><Name>a</Name></Item><Item><Name>b</Name></Item><Item><Name>c</Name></Item></ExtAttr>\n</xml>",
        );
        assert_eq!(
            value,
            json!({
                "SendLocationInfo": {"Location_X": "23", "Scale": "15"},
                "ExtAttr": {"Item": [{"Name": "a"}, {"Name": "b"}, {"Name": "c"}]}
            })
        );
    }

    #[test]
    fn references_attributes_and_mixed_text() {
        assert_eq!(json_of("<x><a>&lt;&amp;&#x4e2d;&#25991;&quot;</a></x>"), json!({"a": "<&中文\""}));
        assert_eq!(json_of(r#"<x k="v &amp; w"><a>1</a>tail</x>"#), json!({"@k": "v & w", "a": "1", "#text": "tail"}));
        assert_eq!(json_of(r#"<x><a k="1">t</a></x>"#), json!({"a": {"@k": "1", "#text": "t"}}));
        assert_eq!(json_of("<x>\r\n<a>l1\r\nl2</a></x>"), json!({"a": "l1\nl2"}));
        assert_eq!(json_of("<?xml version=\"1.0\"?><!-- c --><x><a>1</a></x>\n"), json!({"a": "1"}));
    }

    #[test]
    fn anything_but_one_well_formed_element_is_refused() {
        for bad in [
            "",
            "   ",
            "plain text",
            "<x>",
            "<x></y>",
            "</x>",
            "<x/><y/>",
            "<x></x><y></y>",
            "<x></x>tail",
            "<x>&unknown;</x>",
            "<x>&#0;</x>",
            "<x>&amp</x>",
            "<!DOCTYPE x [<!ENTITY e \"boom\">]><x>&e;</x>",
            "<x a=\"1\" a=\"2\"/>",
            "<x><a>1</a>",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} was accepted: {:?}", parse(bad));
        }
    }

    #[test]
    fn nesting_is_bounded() {
        let ok = format!("{}{}", "<a>".repeat(MAX_DEPTH), "</a>".repeat(MAX_DEPTH));
        assert!(parse(&ok).is_ok());
        let deep = format!("{}{}", "<a>".repeat(MAX_DEPTH + 1), "</a>".repeat(MAX_DEPTH + 1));
        assert!(parse(&deep).unwrap_err().contains("deeper"));
        let very_deep = "<a>".repeat(100_000);
        assert!(parse(&very_deep).is_err());
    }
}
