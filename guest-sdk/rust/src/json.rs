//! A small JSON for the SDK's own needs and for orchestrations that bring no serializer:
//! [`Value`] parses any JSON text and encodes compact JSON **exactly as Go's `encoding/json`
//! does** (the same escapes: `<`, `>`, `&`, U+2028 and U+2029 as `\u` sequences), so that a
//! Rust orchestration can produce the same payload bytes as a Go one, and so the same history.
//! Numbers keep their text. Object members keep their order (Go sorts the keys of maps but not
//! the fields of structs: build objects in the order you want).

use std::fmt;

/// A JSON value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number, as its JSON text.
    Number(String),
    /// A string.
    String(String),
    /// An array.
    Array(Vec<Value>),
    /// An object, members in order.
    Object(Vec<(String, Value)>),
    /// JSON text embedded as is when encoding (after Go's compaction); never produced by
    /// [`Value::parse`].
    Raw(String),
}

/// A JSON text could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// Byte offset of the problem.
    pub offset: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid JSON at byte {}: {}", self.offset, self.message)
    }
}

impl std::error::Error for Error {}

impl Value {
    /// Parses a JSON text (one value, surrounding whitespace allowed).
    pub fn parse(text: &str) -> Result<Value, Error> {
        let mut p = Parser { b: text.as_bytes(), pos: 0, depth: 0 };
        p.ws();
        let v = p.value()?;
        p.ws();
        if p.pos != p.b.len() {
            return p.err("trailing data after the value");
        }
        Ok(v)
    }

    /// A number value from an integer.
    pub fn int(n: i64) -> Value {
        Value::Number(n.to_string())
    }

    /// A string value.
    pub fn str(s: &str) -> Value {
        Value::String(s.to_string())
    }

    /// The member `key` of an object (the last one of that name, as Go decodes), or None.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Object(m) => m.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The string, or None for another type.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The number as an i64, or None for another type or a number that is not an integer.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Number(n) => n.parse().ok(),
            _ => None,
        }
    }

    /// The number as an f64, or None for another type.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Number(n) => n.parse().ok(),
            _ => None,
        }
    }

    /// The boolean, or None for another type.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The elements of an array, or None for another type.
    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    /// Whether the value is null.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The compact JSON text of the value, as Go's `json.Marshal` writes it.
    pub fn to_json(&self) -> String {
        let mut out = String::new();
        self.write(&mut out);
        out
    }

    /// Appends the compact JSON text of the value to out.
    pub fn write(&self, out: &mut String) {
        match self {
            Value::Null => out.push_str("null"),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Number(n) => out.push_str(n),
            Value::String(s) => write_str(out, s),
            Value::Array(a) => {
                out.push('[');
                for (i, v) in a.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    v.write(out);
                }
                out.push(']');
            }
            Value::Object(m) => {
                out.push('{');
                for (i, (k, v)) in m.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write_str(out, k);
                    out.push(':');
                    v.write(out);
                }
                out.push('}');
            }
            Value::Raw(r) => compact_into(out, r),
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_json())
    }
}

/// Builds an object member by member, in order: `json::object().set("a", 1)...build()`.
pub fn object() -> ObjectBuilder {
    ObjectBuilder(Vec::new())
}

/// See [`object`].
pub struct ObjectBuilder(Vec<(String, Value)>);

impl ObjectBuilder {
    /// Appends a member.
    pub fn set(mut self, key: &str, v: impl Into<Value>) -> ObjectBuilder {
        self.0.push((key.to_string(), v.into()));
        self
    }

    /// The object.
    pub fn build(self) -> Value {
        Value::Object(self.0)
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::String(s.to_string())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::String(s)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Bool(b)
    }
}

macro_rules! from_int {
    ($($t:ty),*) => {$(
        impl From<$t> for Value {
            fn from(n: $t) -> Value {
                Value::Number(n.to_string())
            }
        }
    )*};
}
from_int!(i32, i64, u32, u64, usize);

impl<T: Into<Value>> From<Vec<T>> for Value {
    fn from(v: Vec<T>) -> Value {
        Value::Array(v.into_iter().map(Into::into).collect())
    }
}

/// Appends s as a JSON string, escaped as Go's `encoding/json` escapes it.
pub fn write_str(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
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
            c if (c as u32) < 0x20 || c == '<' || c == '>' || c == '&' => {
                let n = c as u32;
                out.push_str("\\u00");
                out.push(HEX[(n >> 4) as usize] as char);
                out.push(HEX[(n & 0xf) as usize] as char);
            }
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// s as a JSON string (see [`write_str`]).
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    write_str(&mut out, s);
    out
}

/// Compacts a JSON text as Go does when it embeds a `json.RawMessage`: insignificant
/// whitespace removed, and `<`, `>`, `&`, U+2028, U+2029 in strings escaped. The text is
/// assumed valid (use [`Value::parse`] to check it).
pub fn compact(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    compact_into(&mut out, raw);
    out
}

fn compact_into(out: &mut String, raw: &str) {
    let mut in_str = false;
    let mut escaped = false;
    for c in raw.chars() {
        if in_str {
            match c {
                _ if escaped => {
                    escaped = false;
                    out.push(c);
                }
                '\\' => {
                    escaped = true;
                    out.push(c);
                }
                '"' => {
                    in_str = false;
                    out.push(c);
                }
                '<' => out.push_str("\\u003c"),
                '>' => out.push_str("\\u003e"),
                '&' => out.push_str("\\u0026"),
                '\u{2028}' => out.push_str("\\u2028"),
                '\u{2029}' => out.push_str("\\u2029"),
                c => out.push(c),
            }
        } else {
            match c {
                ' ' | '\t' | '\n' | '\r' => {}
                '"' => {
                    in_str = true;
                    out.push(c);
                }
                c => out.push(c),
            }
        }
    }
}

/// The deepest nesting of arrays and objects the parser accepts: it recurses once per level,
/// and a guest's stack is small (32 KiB in the SDK's builds).
pub const MAX_DEPTH: usize = 64;

struct Parser<'a> {
    b: &'a [u8],
    pos: usize,
    depth: usize,
}

impl<'a> Parser<'a> {
    fn err<T>(&self, message: &str) -> Result<T, Error> {
        Err(Error { offset: self.pos, message: message.to_string() })
    }

    fn ws(&mut self) {
        while self.pos < self.b.len() && matches!(self.b[self.pos], b' ' | b'\t' | b'\n' | b'\r') {
            self.pos += 1;
        }
    }

    fn lit(&mut self, word: &str, v: Value) -> Result<Value, Error> {
        if self.b[self.pos..].starts_with(word.as_bytes()) {
            self.pos += word.len();
            Ok(v)
        } else {
            self.err("invalid literal")
        }
    }

    fn value(&mut self) -> Result<Value, Error> {
        match self.b.get(self.pos) {
            None => self.err("unexpected end of input"),
            Some(b'n') => self.lit("null", Value::Null),
            Some(b't') => self.lit("true", Value::Bool(true)),
            Some(b'f') => self.lit("false", Value::Bool(false)),
            Some(b'"') => Ok(Value::String(self.string()?)),
            Some(b'[') => {
                self.enter()?;
                self.pos += 1;
                let mut a = Vec::new();
                self.ws();
                if self.b.get(self.pos) == Some(&b']') {
                    self.pos += 1;
                    self.depth -= 1;
                    return Ok(Value::Array(a));
                }
                loop {
                    self.ws();
                    a.push(self.value()?);
                    self.ws();
                    match self.b.get(self.pos) {
                        Some(b',') => self.pos += 1,
                        Some(b']') => {
                            self.pos += 1;
                            self.depth -= 1;
                            return Ok(Value::Array(a));
                        }
                        _ => return self.err("want , or ] in an array"),
                    }
                }
            }
            Some(b'{') => {
                self.enter()?;
                self.pos += 1;
                let mut m = Vec::new();
                self.ws();
                if self.b.get(self.pos) == Some(&b'}') {
                    self.pos += 1;
                    self.depth -= 1;
                    return Ok(Value::Object(m));
                }
                loop {
                    self.ws();
                    if self.b.get(self.pos) != Some(&b'"') {
                        return self.err("want a string key in an object");
                    }
                    let k = self.string()?;
                    self.ws();
                    if self.b.get(self.pos) != Some(&b':') {
                        return self.err("want : after an object key");
                    }
                    self.pos += 1;
                    self.ws();
                    let v = self.value()?;
                    m.push((k, v));
                    self.ws();
                    match self.b.get(self.pos) {
                        Some(b',') => self.pos += 1,
                        Some(b'}') => {
                            self.pos += 1;
                            self.depth -= 1;
                            return Ok(Value::Object(m));
                        }
                        _ => return self.err("want , or } in an object"),
                    }
                }
            }
            Some(b'-') | Some(b'0'..=b'9') => self.number(),
            Some(_) => self.err("unexpected character"),
        }
    }

    fn enter(&mut self) -> Result<(), Error> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return self.err("nested too deeply");
        }
        Ok(())
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while self.pos < self.b.len() && self.b[self.pos].is_ascii_digit() {
            self.pos += 1;
        }
        self.pos - start
    }

    fn number(&mut self) -> Result<Value, Error> {
        let start = self.pos;
        if self.b[self.pos] == b'-' {
            self.pos += 1;
        }
        let int_start = self.pos;
        let n = self.digits();
        if n == 0 || (n > 1 && self.b[int_start] == b'0') {
            return self.err("invalid number");
        }
        if self.b.get(self.pos) == Some(&b'.') {
            self.pos += 1;
            if self.digits() == 0 {
                return self.err("invalid number");
            }
        }
        if matches!(self.b.get(self.pos), Some(b'e') | Some(b'E')) {
            self.pos += 1;
            if matches!(self.b.get(self.pos), Some(b'+') | Some(b'-')) {
                self.pos += 1;
            }
            if self.digits() == 0 {
                return self.err("invalid number");
            }
        }
        Ok(Value::Number(String::from_utf8_lossy(&self.b[start..self.pos]).into_owned()))
    }

    fn hex4(&mut self) -> Result<u32, Error> {
        if self.pos + 4 > self.b.len() {
            return self.err("short \\u escape");
        }
        // Four hexadecimal digits exactly (u32::from_str_radix would take "+123" too).
        let mut n = 0;
        for &c in &self.b[self.pos..self.pos + 4] {
            match (c as char).to_digit(16) {
                Some(d) => n = n << 4 | d,
                None => return self.err("invalid \\u escape"),
            }
        }
        self.pos += 4;
        Ok(n)
    }

    fn string(&mut self) -> Result<String, Error> {
        self.pos += 1; // the opening quote
        let mut out: Vec<u8> = Vec::new();
        loop {
            let c = match self.b.get(self.pos) {
                Some(&c) => c,
                None => return self.err("unterminated string"),
            };
            match c {
                b'"' => {
                    self.pos += 1;
                    // The input is a &str, so the bytes copied are UTF-8.
                    return Ok(String::from_utf8(out).unwrap_or_default());
                }
                b'\\' => {
                    self.pos += 1;
                    let e = match self.b.get(self.pos) {
                        Some(&e) => e,
                        None => return self.err("unterminated string"),
                    };
                    self.pos += 1;
                    let ch = match e {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let hi = self.hex4()?;
                            let code = if (0xd800..0xdc00).contains(&hi)
                                && self.b[self.pos..].starts_with(b"\\u")
                            {
                                let save = self.pos;
                                self.pos += 2;
                                let lo = self.hex4()?;
                                if (0xdc00..0xe000).contains(&lo) {
                                    0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00)
                                } else {
                                    self.pos = save;
                                    0xfffd
                                }
                            } else {
                                hi
                            };
                            char::from_u32(code).unwrap_or('\u{fffd}')
                        }
                        _ => return self.err("invalid escape"),
                    };
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                }
                c if c < 0x20 => return self.err("control character in a string"),
                c => {
                    out.push(c);
                    self.pos += 1;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_of_go_encodings() {
        for text in [
            r#"{"activity":"echo","input":"hello"}"#,
            r#"[1,-2.5e10,null,true,false,"a\"b\\c\n\u003c\u0026"]"#,
            r#"{"a":{"b":[]},"c":{}}"#,
            r#""\u2028é""#,
        ] {
            assert_eq!(Value::parse(text).unwrap().to_json(), text);
        }
    }

    /// Expected outputs produced by Go's encoding/json.
    #[test]
    fn same_bytes_as_go() {
        assert_eq!(
            quote("\u{8}\u{c}\u{1}\u{7f}<>&\u{2028}\u{2029}é\"\\\t\n\r"),
            "\"\\b\\f\\u0001\u{7f}\\u003c\\u003e\\u0026\\u2028\\u2029é\\\"\\\\\\t\\n\\r\""
        );
        let lone = Value::parse(r#""\ud800\u0041\udc00x\ud83d\ude00""#).unwrap();
        assert_eq!(lone.as_str(), Some("\u{fffd}A\u{fffd}x\u{1f600}"));
        assert_eq!(
            Value::Raw(" { \"a\" : \"<\\u00e9>\u{2028}\" , \"b\": [1, 2] } ".into()).to_json(),
            r#"{"a":"\u003c\u00e9\u003e\u2028","b":[1,2]}"#
        );
    }

    #[test]
    fn unicode_escapes_take_four_hex_digits() {
        assert_eq!(Value::parse(r#""\u0041\u00e9\uD83D\uDE00""#).unwrap(), Value::str("A\u{e9}\u{1f600}"));
        // Go's decoder refuses these; from_str_radix took a sign.
        for bad in [r#""\u+041""#, r#""\u-041""#, r#""\u 041""#, r#""\u00g1""#, r#""\u004""#] {
            assert!(Value::parse(bad).is_err(), "{} parsed", bad);
        }
    }

    #[test]
    fn parse_errors() {
        for bad in ["", "{", "[1,]", "01", "\"a", "nul", "1 2", "{\"a\" 1}"] {
            assert!(Value::parse(bad).is_err(), "{:?}", bad);
        }
    }

    #[test]
    fn accessors_and_compact() {
        let v = Value::parse(r#" { "n" : 3 , "s" : "x", "n": 4 } "#).unwrap();
        assert_eq!(v.get("n").and_then(Value::as_i64), Some(4));
        assert_eq!(v.get("s").and_then(Value::as_str), Some("x"));
        assert_eq!(compact(" { \"a\" : \"<b> c\" } "), r#"{"a":"\u003cb\u003e c"}"#);
        assert_eq!(object().set("b", 1).set("a", "x").build().to_json(), r#"{"b":1,"a":"x"}"#);
    }
}
