//! JSON text written directly, for what telemetry writes after every response (log
//! lines, EMF documents, X-Ray segments).
//!
//! Arrows: over the model (field values); `logs` and the encoders use it.
//!
//! Building a `serde_json::Value` first allocates every key and value and sorts keys in
//! maps, then escapes each string byte by byte: most of an EMF document's and an X-Ray
//! segment's cost (callgrind, home route: 65,000 instructions each an invocation). Here
//! strings that need no escaping (ids, names, keys: nearly all) are copied at once, and
//! the output is byte for byte what serde_json writes for the same text and numbers.

use std::{borrow::Cow, ops::Range};

use crate::model::FieldValue;

/// How serde_json escapes each byte below 0x80: `b'u'` for `\u00XX`, `0` for none.
const ESCAPE: [u8; 128] = {
    let mut table = [0u8; 128];
    let mut byte = 0;
    while byte < 0x20 {
        table[byte] = b'u';
        byte += 1;
    }
    table[0x08] = b'b';
    table[0x09] = b't';
    table[0x0a] = b'n';
    table[0x0c] = b'f';
    table[0x0d] = b'r';
    table[b'"' as usize] = b'"';
    table[b'\\' as usize] = b'\\';
    table
};

/// Writes `value` as a JSON string, in one pass: runs that need no escaping are copied
/// whole (a response body kept as X-Ray metadata is mostly such runs).
pub(crate) fn push_str(out: &mut Vec<u8>, value: &str) {
    out.push(b'"');
    let bytes = value.as_bytes();
    let mut run = 0;
    for (i, &byte) in bytes.iter().enumerate() {
        let escape = if byte < 0x80 { ESCAPE[byte as usize] } else { 0 };
        if escape == 0 {
            continue;
        }
        out.extend_from_slice(&bytes[run..i]);
        run = i + 1;
        match escape {
            b'u' => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(b"\\u00");
                out.push(HEX[(byte >> 4) as usize]);
                out.push(HEX[(byte & 0xf) as usize]);
            }
            escape => out.extend_from_slice(&[b'\\', escape]),
        }
    }
    out.extend_from_slice(&bytes[run..]);
    out.push(b'"');
}

/// Writes `"key":`, after a comma unless it is the first member of its object.
pub(crate) fn push_key(out: &mut Vec<u8>, key: &str) {
    push_separator(out);
    push_str(out, key);
    out.push(b':');
}

/// Writes the comma before an object's member or an array's element, unless it is the
/// first (the last byte opened the object or array).
pub(crate) fn push_separator(out: &mut Vec<u8>) {
    if !matches!(out.last(), Some(b'{' | b'[') | None) {
        out.push(b',');
    }
}

/// Writes a finite float as serde_json does (`1.0`, `0.25`, `1e21`); anything else as
/// serde_json does too: `null`.
pub(crate) fn push_f64(out: &mut Vec<u8>, value: f64) {
    let _ = serde_json::to_writer(&mut *out, &value);
}

/// Writes an integer.
pub(crate) fn push_int(out: &mut Vec<u8>, value: impl itoa::Integer) {
    out.extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
}

/// Writes a boolean.
pub(crate) fn push_bool(out: &mut Vec<u8>, value: bool) {
    out.extend_from_slice(if value { b"true" } else { b"false" });
}

/// Writes a field's value: numbers and booleans as they are, a float that is not finite
/// as its text (`"NaN"`), anything else as a string.
pub(crate) fn push_value(out: &mut Vec<u8>, value: &FieldValue) {
    match value {
        FieldValue::I64(v) => push_int(out, *v),
        FieldValue::U64(v) => push_int(out, *v),
        FieldValue::Bool(v) => push_bool(out, *v),
        FieldValue::F64(v) if v.is_finite() => push_f64(out, *v),
        FieldValue::F64(v) => push_str(out, &v.to_string()),
        FieldValue::Str(text) | FieldValue::Debug(text) => push_str(out, text),
    }
}

/// An object's members, gathered before it is written so that a key given twice is written
/// once, with its last value (as a JSON map keeps it); the values are rendered into one
/// buffer as they come.
#[derive(Default)]
pub(crate) struct Object<'a> {
    members: Vec<(Cow<'a, str>, Range<usize>)>,
    values: Vec<u8>,
}

impl<'a> Object<'a> {
    /// How many keys it has.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Whether it has no key.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// Sets `key` to the value `write` renders.
    pub fn insert(&mut self, key: impl Into<Cow<'a, str>>, write: impl FnOnce(&mut Vec<u8>)) {
        let key = key.into();
        let start = self.values.len();
        write(&mut self.values);
        let range = start..self.values.len();
        match self.members.iter_mut().find(|(k, _)| *k == key) {
            Some(member) => member.1 = range,
            None => self.members.push((key, range)),
        }
    }

    /// Writes `{…}`.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        out.push(b'{');
        for (key, range) in &self.members {
            push_key(out, key);
            out.extend_from_slice(&self.values[range.clone()]);
        }
        out.push(b'}');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strings_and_numbers_are_written_as_serde_json_writes_them() {
        for text in [
            "plain",
            "",
            "quote \" and \\ slash",
            "tab\tnew\nline\u{1}\u{8}\u{c}\r\u{1f}",
            "\u{7f}",
            "ünïcödé ✓ \"x\"",
            "{\"a\":[1,\"b\"]}\\",
        ] {
            let mut out = Vec::new();
            push_str(&mut out, text);
            assert_eq!(out, serde_json::to_vec(text).unwrap(), "{text:?}");
        }
        let ascii: String = (0u8..128).map(char::from).collect();
        let mut out = Vec::new();
        push_str(&mut out, &ascii);
        assert_eq!(out, serde_json::to_vec(&ascii).unwrap());
        for number in [0.0, 1.0, 0.25, -3.5, 1e21, 1e-7, f64::MAX] {
            let mut out = Vec::new();
            push_f64(&mut out, number);
            assert_eq!(out, serde_json::to_vec(&number).unwrap(), "{number}");
        }
        let mut out = Vec::new();
        push_int(&mut out, u64::MAX);
        push_separator(&mut out);
        push_int(&mut out, i64::MIN);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            format!("{},{}", u64::MAX, i64::MIN)
        );
    }

    #[test]
    fn members_are_separated_by_commas_only_between_them() {
        let mut out = b"{".to_vec();
        push_key(&mut out, "a");
        out.push(b'[');
        for value in [
            FieldValue::U64(1),
            FieldValue::Str("x".into()),
            FieldValue::F64(f64::NAN),
        ] {
            push_separator(&mut out);
            push_value(&mut out, &value);
        }
        out.push(b']');
        push_key(&mut out, "b");
        push_bool(&mut out, true);
        out.push(b'}');
        let parsed: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(parsed, json!({ "a": [1, "x", "NaN"], "b": true }));
    }

    #[test]
    fn a_key_set_twice_is_written_once_with_its_last_value() {
        let mut object = Object::default();
        object.insert("a", |out| push_int(out, 1));
        object.insert(String::from("b"), |out| push_str(out, "x"));
        object.insert("a", |out| push_int(out, 2));
        assert_eq!(object.len(), 2);
        let mut out = Vec::new();
        object.write_to(&mut out);
        assert_eq!(String::from_utf8(out).unwrap(), r#"{"a":2,"b":"x"}"#);
    }
}
