//! XML reading. The adapter always asks for JSON, but the Dashboard API answers XML by
//! default and may do so anyway; these helpers turn such answers into the serde types of
//! `wire.rs` (which own every element name) or into error descriptions.

use quick_xml::events::Event;
use quick_xml::Reader;
use serde::de::DeserializeOwned;

use crate::upstream::TargetError;

/// Deserialises an XML document (the root element's name is not checked) into `T`.
pub(crate) fn from_xml<T: DeserializeOwned>(body: &[u8], what: &str) -> Result<T, TargetError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| TargetError::Protocol(format!("{what}: XML answer is not UTF-8")))?;
    quick_xml::de::from_str(text)
        .map_err(|e| TargetError::Protocol(format!("{what}: unreadable XML answer: {e}")))
}

/// The texts of every element named `Description`, in document order. This covers all the
/// documented error shapes at once: `<X><ResponseStatus><Description/>`,
/// `<Error><Description/>` and `<ErrorList><Error><Description/>...`.
pub(crate) fn descriptions(body: &[u8]) -> Vec<String> {
    let mut reader = Reader::from_reader(body);
    reader.config_mut().trim_text(true);
    let mut out = Vec::new();
    let mut buf = Vec::new();
    let mut inside = false;
    let mut current = String::new();
    loop {
        match reader.read_event_into(&mut buf) {
            Ok(Event::Start(e)) if e.local_name().as_ref() == b"Description" => {
                inside = true;
                current.clear();
            }
            Ok(Event::End(e)) if e.local_name().as_ref() == b"Description" => {
                inside = false;
                let text = current.trim();
                if !text.is_empty() {
                    out.push(text.to_string());
                }
            }
            Ok(Event::Text(t)) if inside => {
                if let Ok(s) = t.unescape() {
                    current.push_str(&s);
                }
            }
            Ok(Event::CData(t)) if inside => {
                current.push_str(&String::from_utf8_lossy(&t));
            }
            Ok(Event::Eof) | Err(_) => break,
            Ok(_) => {}
        }
        buf.clear();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_of_every_error_shape() {
        let a = br#"<ErrorResponse><ResponseStatus><ErrorCode>12504</ErrorCode><Description>Username taken</Description></ResponseStatus></ErrorResponse>"#;
        assert_eq!(descriptions(a), vec!["Username taken"]);
        let b = br#"<?xml version="1.0"?><Error><Code>400</Code><Description>bad &amp; worse</Description></Error>"#;
        assert_eq!(descriptions(b), vec!["bad & worse"]);
        let c = br#"<ErrorList><Error><Code>1</Code><Description>one</Description></Error><Error><Code>2</Code><Description>two</Description></Error></ErrorList>"#;
        assert_eq!(descriptions(c), vec!["one", "two"]);
        let d = br#"<SomeResponse><ResponseStatus><ErrorCode>1</ErrorCode><Description/></ResponseStatus></SomeResponse>"#;
        assert!(descriptions(d).is_empty());
        assert!(descriptions(b"not xml at all <<<").is_empty());
    }

    #[test]
    fn from_xml_reports_protocol_error() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct X {
            #[serde(rename = "A")]
            a: u32,
        }
        match from_xml::<X>(b"<R><A>notanumber</A></R>", "user") {
            Err(TargetError::Protocol(m)) => assert!(m.contains("user")),
            other => panic!("{other:?}"),
        }
    }
}
