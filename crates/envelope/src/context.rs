//! Encryption contexts and their one canonical serialization.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

/// A KMS-style encryption context: non-secret string pairs bound to a wrapped data key.
///
/// Ordered by key (byte order, which is also Unicode code-point order), so iteration and the
/// [canonical JSON](EncryptionContext::canonical_json) are deterministic.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct EncryptionContext(BTreeMap<String, String>);

impl EncryptionContext {
    /// An empty context.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces an entry; returns the previous value.
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<String>) -> Option<String> {
        self.0.insert(key.into(), value.into())
    }

    /// Removes an entry.
    pub fn remove(&mut self, key: &str) -> Option<String> {
        self.0.remove(key)
    }

    /// Looks an entry up.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Entries in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The underlying map (e.g. to hand to the KMS SDK).
    pub fn as_map(&self) -> &BTreeMap<String, String> {
        &self.0
    }

    /// Consumes the context into its map.
    pub fn into_map(self) -> BTreeMap<String, String> {
        self.0
    }

    /// The canonical serialization: a JSON object, keys sorted by code point, no whitespace,
    /// ASCII only. Byte for byte what Python's
    /// `json.dumps(ctx, sort_keys=True, separators=(",", ":"))` produces (its default
    /// `ensure_ascii=True`): `"` and `\` escaped with a backslash, `\n \r \t \b \f` as short
    /// escapes, every other character outside `0x20..=0x7e` as lowercase `\uXXXX` (UTF-16
    /// surrogate pairs above U+FFFF). The empty context is `{}`.
    ///
    /// Used as the local keyring's AAD and as the metadata value of `x-amz-context` /
    /// `x-amz-matdesc` (ASCII keeps S3 from RFC 2047-encoding the header).
    pub fn canonical_json(&self) -> String {
        let mut out = String::with_capacity(2 + self.0.len() * 32);
        out.push('{');
        for (i, (k, v)) in self.0.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            push_json_string(&mut out, k);
            out.push(':');
            push_json_string(&mut out, v);
        }
        out.push('}');
        out
    }

    /// Parses a JSON object whose values are all strings. Duplicate names are rejected (a
    /// parser that kept the first and one that kept the last would see different contexts).
    /// A value that S3 returned RFC 2047-encoded (`=?UTF-8?B?…?=`) is decoded first.
    pub fn from_json(text: &str) -> Result<Self, String> {
        let decoded = decode_rfc2047(text);
        let text = decoded.as_deref().unwrap_or(text);
        let mut de = serde_json::Deserializer::from_str(text);
        let ctx = StrictMap::deserialize(&mut de).map_err(|e| e.to_string())?;
        de.end().map_err(|e| e.to_string())?;
        Ok(EncryptionContext(ctx.0))
    }
}

impl From<BTreeMap<String, String>> for EncryptionContext {
    fn from(map: BTreeMap<String, String>) -> Self {
        EncryptionContext(map)
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for EncryptionContext {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        EncryptionContext(iter.into_iter().map(|(k, v)| (k.into(), v.into())).collect())
    }
}

impl<'de> Deserialize<'de> for EncryptionContext {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        StrictMap::deserialize(d).map(|m| EncryptionContext(m.0))
    }
}

/// A string→string map that refuses duplicate names.
struct StrictMap(BTreeMap<String, String>);

impl<'de> Deserialize<'de> for StrictMap {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = StrictMap;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object of string values")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<StrictMap, A::Error> {
                let mut map = BTreeMap::new();
                while let Some((k, v)) = access.next_entry::<String, String>()? {
                    if map.contains_key(&k) {
                        return Err(serde::de::Error::custom(format!("duplicate name {k:?} in encryption context")));
                    }
                    map.insert(k, v);
                }
                Ok(StrictMap(map))
            }
        }
        d.deserialize_map(V)
    }
}

fn push_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            _ => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    // Writing to a String cannot fail.
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
        }
    }
    out.push('"');
}

/// Decodes a header value made only of RFC 2047 encoded words in UTF-8 (`=?UTF-8?B?…?=` or
/// `=?UTF-8?Q?…?=`, whitespace between words ignored), which is how S3 returns user metadata
/// that held non-ASCII characters. `None` when the value is not such a sequence.
pub(crate) fn decode_rfc2047(value: &str) -> Option<String> {
    use base64::Engine as _;
    let value = value.trim();
    if !value.starts_with("=?") {
        return None;
    }
    let mut bytes = Vec::new();
    for word in value.split_ascii_whitespace() {
        let inner = word.strip_prefix("=?")?.strip_suffix("?=")?;
        let mut parts = inner.splitn(3, '?');
        let charset = parts.next()?;
        let encoding = parts.next()?;
        let text = parts.next()?;
        if !charset.eq_ignore_ascii_case("utf-8") {
            return None;
        }
        if encoding.eq_ignore_ascii_case("b") {
            bytes.extend(base64::engine::general_purpose::STANDARD.decode(text).ok()?);
        } else if encoding.eq_ignore_ascii_case("q") {
            let raw = text.as_bytes();
            let mut i = 0;
            while i < raw.len() {
                match raw[i] {
                    b'_' => bytes.push(b' '),
                    b'=' => {
                        let hex = raw.get(i + 1..i + 3)?;
                        let hex = std::str::from_utf8(hex).ok()?;
                        bytes.push(u8::from_str_radix(hex, 16).ok()?);
                        i += 2;
                    }
                    b => bytes.push(b),
                }
                i += 1;
            }
        } else {
            return None;
        }
    }
    String::from_utf8(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_matches_python_json_dumps() {
        // Expected strings produced with
        // json.dumps(d, sort_keys=True, separators=(",", ":")).
        let ctx: EncryptionContext =
            [("b", "x"), ("a", "na\u{ef}ve \u{2603} \"q\" \\ \u{1f600} \u{7f}\n\u{1}")].into_iter().collect();
        assert_eq!(ctx.canonical_json(), r#"{"a":"na\u00efve \u2603 \"q\" \\ \ud83d\ude00 \u007f\n\u0001","b":"x"}"#);
        assert_eq!(EncryptionContext::new().canonical_json(), "{}");
    }

    #[test]
    fn parse_roundtrip_and_duplicates() {
        let ctx: EncryptionContext = [("k", "v\u{e9}"), ("aws:x", "y")].into_iter().collect();
        assert_eq!(EncryptionContext::from_json(&ctx.canonical_json()).unwrap(), ctx);
        assert!(EncryptionContext::from_json(r#"{"a":"1","a":"2"}"#).is_err());
        assert!(EncryptionContext::from_json(r#"{"a":1}"#).is_err());
        assert!(EncryptionContext::from_json(r#"["a"]"#).is_err());
        assert!(EncryptionContext::from_json(r#"{"a":"1"} x"#).is_err());
    }

    #[test]
    fn rfc2047_values_are_decoded() {
        // base64 of {"k":"é"}
        let b = "=?UTF-8?B?eyJrIjoiw6kifQ==?=";
        assert_eq!(EncryptionContext::from_json(b).unwrap().get("k"), Some("\u{e9}"));
        let q = "=?UTF-8?Q?{\"k\":\"=C3=A9_x\"}?=";
        assert_eq!(EncryptionContext::from_json(q).unwrap().get("k"), Some("\u{e9} x"));
        assert_eq!(decode_rfc2047("plain"), None);
        assert_eq!(decode_rfc2047("=?ISO-8859-1?B?YQ==?="), None);
    }
}
