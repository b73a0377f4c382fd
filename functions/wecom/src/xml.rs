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
    let mut tree = Tree { stack: Vec::new(), root: None };
    walk(text, &mut tree)?;
    let (root, value) = tree.root.ok_or("no root element")?;
    Ok(Document { root, value })
}

/// The text of the root's child element `name` (`Encrypt`), reading
/// `text` as a stream: nothing but that one element's text is kept, so
/// the memory it takes is that text and the reader's own bookkeeping, not
/// a tree of every element. `text` must be a document [`parse`] accepts
/// (the same walk checks it); `Ok(None)` when there is no such child, or
/// when it is not text alone (it repeats, or has attributes or child
/// elements), which is exactly when [`parse`] would not make it a string.
pub fn root_child_text(text: &str, name: &str) -> Result<Option<String>, String> {
    let mut child = ChildText { name, state: ChildState::Absent, inside: false };
    walk(text, &mut child)?;
    Ok(match child.state {
        ChildState::Text(text) => Some(text),
        ChildState::Absent | ChildState::Unusable => None,
    })
}

/// What [`walk`] reports of a document, in document order. The walk itself
/// enforces what "well-formed" means here, so [`parse`] and
/// [`root_child_text`] accept and refuse exactly the same documents.
trait Visitor {
    /// An element opens; `ancestors` is how many elements enclose it (0 for
    /// the root). Its attributes are already known to be well-formed.
    fn open(&mut self, start: &BytesStart<'_>, ancestors: usize) -> Result<(), String>;
    /// The element that opened with `ancestors` closes.
    fn close(&mut self, ancestors: usize);
    /// Whether the visitor keeps text directly inside the innermost open
    /// element, which has `ancestors`; when not, the text is never decoded.
    fn wants_text(&self, ancestors: usize) -> bool;
    fn text(&mut self, text: &str);
}

/// Reads `text` as one XML element, event by event, refusing anything that
/// is not one well-formed element (see the module documentation).
fn walk(text: &str, visitor: &mut impl Visitor) -> Result<(), String> {
    let mut reader = Reader::from_str(text);
    // Elements open now: the innermost has `open - 1` ancestors.
    let mut open = 0usize;
    let mut root_seen = false;
    loop {
        let event = reader.read_event().map_err(|e| format!("not well-formed XML: {e}"))?;
        match event {
            Event::Start(start) => {
                if open == 0 && root_seen {
                    return Err("more than one root element".into());
                }
                if open >= MAX_DEPTH {
                    return Err(format!("elements nested deeper than {MAX_DEPTH}"));
                }
                check_attributes(&start)?;
                visitor.open(&start, open)?;
                open += 1;
                root_seen = true;
            }
            Event::Empty(start) => {
                if open == 0 && root_seen {
                    return Err("more than one root element".into());
                }
                check_attributes(&start)?;
                visitor.open(&start, open)?;
                visitor.close(open);
                root_seen = true;
            }
            Event::End(_) => {
                // The reader checks that end names match their start.
                open = open.checked_sub(1).ok_or("closing tag without an opening one")?;
                visitor.close(open);
            }
            Event::Text(text) => deliver(visitor, open, || text.xml10_content())?,
            Event::CData(cdata) => deliver(visitor, open, || cdata.xml10_content())?,
            Event::GeneralRef(reference) => {
                // Resolved whether or not the text is kept: an unknown
                // entity makes the document unacceptable either way.
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
                let mut buffer = [0; 4];
                let resolved: &str = resolved.encode_utf8(&mut buffer);
                deliver(visitor, open, || resolved.into())?;
            }
            Event::DocType(_) => return Err("a DOCTYPE is not accepted".into()),
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
            Event::Eof => break,
        }
    }
    if open != 0 {
        return Err("document ends inside an element".into());
    }
    if !root_seen {
        return Err("no root element".into());
    }
    Ok(())
}

/// Hands text to the visitor if it wants it. Outside the root only
/// whitespace (layout) is allowed; anything else is not XML.
fn deliver<'t>(
    visitor: &mut impl Visitor,
    open: usize,
    content: impl FnOnce() -> std::borrow::Cow<'t, str>,
) -> Result<(), String> {
    let Some(ancestors) = open.checked_sub(1) else {
        return if content().chars().all(char::is_whitespace) {
            Ok(())
        } else {
            Err("text outside the root element".into())
        };
    };
    if visitor.wants_text(ancestors) {
        visitor.text(&content());
    }
    Ok(())
}

/// Every attribute parses and its value's references resolve; refused as
/// [`parse`] always refused them, whether or not the visitor keeps them.
fn check_attributes(start: &BytesStart<'_>) -> Result<(), String> {
    for attribute in start.attributes() {
        let name = start.name().0;
        let attribute = attribute.map_err(|e| format!("bad attribute in <{name}>: {e}"))?;
        attribute
            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .map_err(|e| format!("bad attribute value in <{name}>: {e}"))?;
    }
    Ok(())
}

/// [`parse`]'s visitor: builds the JSON of every element.
struct Tree {
    stack: Vec<Open>,
    root: Option<(String, Value)>,
}

impl Visitor for Tree {
    fn open(&mut self, start: &BytesStart<'_>, _ancestors: usize) -> Result<(), String> {
        self.stack.push(Open::new(start)?);
        Ok(())
    }

    fn close(&mut self, _ancestors: usize) {
        if let Some(open) = self.stack.pop() {
            let (name, value) = open.into_value();
            match self.stack.last_mut() {
                Some(parent) => parent.add_child(name, value),
                None => self.root = Some((name, value)),
            }
        }
    }

    fn wants_text(&self, _ancestors: usize) -> bool {
        true
    }

    fn text(&mut self, text: &str) {
        if let Some(open) = self.stack.last_mut() {
            open.text.push_str(text);
        }
    }
}

/// [`root_child_text`]'s visitor: keeps one element's text and nothing else.
struct ChildText<'n> {
    name: &'n str,
    state: ChildState,
    /// Inside the wanted element (at any depth).
    inside: bool,
}

enum ChildState {
    Absent,
    /// Found once, text only so far.
    Text(String),
    /// Repeated, or with attributes or child elements: [`parse`] would make
    /// it an array or an object, not a string.
    Unusable,
}

impl Visitor for ChildText<'_> {
    fn open(&mut self, start: &BytesStart<'_>, ancestors: usize) -> Result<(), String> {
        if self.inside {
            self.state = ChildState::Unusable;
        } else if ancestors == 1 && start.name().0 == self.name {
            self.inside = true;
            let first = matches!(self.state, ChildState::Absent);
            let has_attributes = start.attributes().next().is_some();
            self.state = if first && !has_attributes { ChildState::Text(String::new()) } else { ChildState::Unusable };
        }
        Ok(())
    }

    fn close(&mut self, ancestors: usize) {
        if ancestors == 1 {
            self.inside = false;
        }
    }

    fn wants_text(&self, ancestors: usize) -> bool {
        self.inside && ancestors == 1 && matches!(self.state, ChildState::Text(_))
    }

    fn text(&mut self, text: &str) {
        if let ChildState::Text(kept) = &mut self.state {
            kept.push_str(text);
        }
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

    /// The streaming read before authentication finds exactly what the full
    /// parse would, and refuses exactly what it refuses (same reasons).
    #[test]
    fn root_child_text_agrees_with_parse() {
        for document in [
            "<xml><ToUserName>ww</ToUserName><Encrypt><![CDATA[abc+/=]]></Encrypt><AgentID>1</AgentID></xml>",
            "<xml>\n  <Encrypt>a<![CDATA[b]]>&amp;c&#x41;\r\n</Encrypt>\n</xml>\n",
            "<xml><Encrypt></Encrypt></xml>",
            "<xml><Encrypt/></xml>",
            "<xml><ToUserName>ww</ToUserName></xml>",
            "<xml><Encrypt>a</Encrypt><Encrypt>b</Encrypt></xml>",
            "<xml><Encrypt k=\"v\">a</Encrypt></xml>",
            "<xml><Encrypt><Inner>a</Inner></Encrypt></xml>",
            "<xml><Encrypt>a<Inner/>b</Encrypt></xml>",
            "<xml><Other><Encrypt>nested</Encrypt></Other></xml>",
            "<Encrypt>root</Encrypt>",
            "<other><Encrypt>any root name</Encrypt></other>",
            "<xml><Encrypt>a</Encrypt></xml><xml/>",
            "<xml><Encrypt>a</Encrypt><x>&unknown;</x></xml>",
            "<xml><Encrypt>a</Encrypt><x a=\"1\" a=\"2\"/></xml>",
            "<xml><Encrypt>a</Encrypt></xml>tail",
            "<!DOCTYPE x><xml><Encrypt>a</Encrypt></xml>",
            "<xml><Encrypt>a</Encrypt>",
            "",
            "{\"encrypt\":1}",
        ] {
            let parsed =
                parse(document).map(|doc| doc.value.get("Encrypt").and_then(Value::as_str).map(str::to_string));
            assert_eq!(root_child_text(document, "Encrypt"), parsed, "{document:?}");
        }
        let deep = format!("<xml><Encrypt>a</Encrypt>{}{}</xml>", "<a>".repeat(MAX_DEPTH), "</a>".repeat(MAX_DEPTH));
        assert!(root_child_text(&deep, "Encrypt").unwrap_err().contains("deeper"));
        assert_eq!(root_child_text("<xml><Encrypt> a\r\nb </Encrypt></xml>", "Encrypt").unwrap().unwrap(), " a\nb ");
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
