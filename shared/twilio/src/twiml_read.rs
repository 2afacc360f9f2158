//! Reading TwiML back the way Twilio does: a strict parse into elements. The phone
//! simulator follows documents with it, and tests assert on structure, not bytes.

use quick_xml::Reader;
use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::{BytesStart, Event};

/// One element: name, attributes in document order, text (entities resolved), children.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    pub name: String,
    pub attrs: Vec<(String, String)>,
    pub text: String,
    pub children: Vec<Element>,
}

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("malformed XML: {0}")]
    Xml(String),
    #[error("not one root element")]
    Root,
    #[error("unknown entity &{0};")]
    Entity(String),
}

impl Element {
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// This element and everything below it, depth first.
    pub fn descendants(&self) -> Vec<&Self> {
        let mut out = vec![self];
        for child in &self.children {
            out.extend(child.descendants());
        }
        out
    }

    pub fn all_named(&self, name: &str) -> Vec<&Self> {
        self.descendants()
            .into_iter()
            .filter(|n| n.name == name)
            .collect()
    }

    /// The names of the direct children: the verbs, on a `<Response>`.
    pub fn child_names(&self) -> Vec<&str> {
        self.children.iter().map(|c| c.name.as_str()).collect()
    }
}

fn xml(e: impl std::fmt::Display) -> ReadError {
    ReadError::Xml(e.to_string())
}

fn element(e: &BytesStart<'_>) -> Result<Element, ReadError> {
    let attrs = e
        .attributes()
        .map(|a| {
            let a = a.map_err(xml)?;
            Ok((
                String::from_utf8_lossy(a.key.as_ref()).into_owned(),
                a.unescape_value().map_err(xml)?.into_owned(),
            ))
        })
        .collect::<Result<_, ReadError>>()?;
    Ok(Element {
        name: String::from_utf8_lossy(e.name().as_ref()).into_owned(),
        attrs,
        text: String::new(),
        children: Vec::new(),
    })
}

/// Parses a whole document strictly (mismatched end tags are errors) into its root.
pub fn parse(document: &str) -> Result<Element, ReadError> {
    let mut reader = Reader::from_str(document);
    reader.config_mut().check_end_names = true;
    let mut stack: Vec<Element> = Vec::new();
    let mut root = None;
    let mut finish = |stack: &mut Vec<Element>, done: Element| match stack.last_mut() {
        Some(parent) => {
            parent.children.push(done);
            Ok(())
        }
        None if root.is_none() => {
            root = Some(done);
            Ok(())
        }
        None => Err(ReadError::Root),
    };
    loop {
        match reader.read_event().map_err(xml)? {
            Event::Start(e) => stack.push(element(&e)?),
            Event::Empty(e) => finish(&mut stack, element(&e)?)?,
            Event::End(_) => {
                let done = stack.pop().ok_or(ReadError::Root)?;
                finish(&mut stack, done)?;
            }
            Event::Text(t) => {
                let text = t.decode().map_err(xml)?;
                match stack.last_mut() {
                    Some(current) => current.text.push_str(&text),
                    None if text.trim().is_empty() => {}
                    None => return Err(ReadError::Root),
                }
            }
            Event::CData(t) => {
                let text = t.decode().map_err(xml)?;
                stack
                    .last_mut()
                    .ok_or(ReadError::Root)?
                    .text
                    .push_str(&text);
            }
            Event::GeneralRef(r) => {
                let resolved = if r.is_char_ref() {
                    r.resolve_char_ref()
                        .map_err(xml)?
                        .ok_or_else(|| ReadError::Xml("bad character reference".into()))?
                        .to_string()
                } else {
                    let name = r.decode().map_err(xml)?;
                    resolve_predefined_entity(&name)
                        .ok_or_else(|| ReadError::Entity(name.into_owned()))?
                        .to_owned()
                };
                stack
                    .last_mut()
                    .ok_or(ReadError::Root)?
                    .text
                    .push_str(&resolved);
            }
            Event::Eof => break,
            Event::Decl(_) | Event::Comment(_) | Event::PI(_) | Event::DocType(_) => {}
        }
    }
    if !stack.is_empty() {
        return Err(ReadError::Xml("unclosed elements".into()));
    }
    root.ok_or(ReadError::Root)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entities_and_nesting_are_read_back() {
        let root = parse(
            "<?xml version=\"1.0\"?><Response><Say a=\"x&amp;y\">a &lt;b&gt; &#233;</Say><Hangup/></Response>",
        )
        .expect("parse");
        assert_eq!(root.child_names(), ["Say", "Hangup"]);
        assert_eq!(root.children[0].text, "a <b> é");
        assert_eq!(root.children[0].attr("a"), Some("x&y"));
    }

    #[test]
    fn malformed_documents_are_errors() {
        for bad in ["", "<a>", "<a></b>", "<a/><b/>", "text", "<a>&nope;</a>"] {
            assert!(parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}
