//! Typed payloads. The host never interprets payloads; by convention they are JSON. The
//! `_typed` methods of [`OrchestrationContext`](crate::OrchestrationContext) and
//! [`Registry::add_typed`](crate::Registry::add_typed) encode inputs with [`Encode`] and
//! decode results with [`Decode`]: implement them for your types with the serializer of your
//! choice (the SDK has no dependencies), or use [`json::Value`](crate::json::Value). A payload
//! that does not decode fails the call with code `bad_payload`.

use crate::failure::Failure;
use crate::json::Value;

/// A value that can be sent as a payload.
pub trait Encode {
    /// The payload's bytes, or a description of why the value cannot be encoded.
    fn encode(&self) -> Result<Vec<u8>, String>;
}

/// A value that can be read from a payload.
pub trait Decode: Sized {
    /// The value of a payload, or a description of why it does not decode. An empty payload
    /// is offered as is (most implementations treat it as JSON `null`).
    fn decode(payload: &[u8]) -> Result<Self, String>;
}

fn text_of(payload: &[u8]) -> Result<&str, String> {
    std::str::from_utf8(payload).map_err(|e| format!("payload is not UTF-8: {}", e))
}

/// The JSON value of a payload; an empty payload is null.
fn parse(payload: &[u8]) -> Result<Value, String> {
    if payload.is_empty() {
        return Ok(Value::Null);
    }
    Value::parse(text_of(payload)?).map_err(|e| e.to_string())
}

impl Encode for Value {
    fn encode(&self) -> Result<Vec<u8>, String> {
        Ok(self.to_json().into_bytes())
    }
}

impl Decode for Value {
    fn decode(payload: &[u8]) -> Result<Value, String> {
        parse(payload)
    }
}

impl Encode for str {
    /// A JSON string.
    fn encode(&self) -> Result<Vec<u8>, String> {
        Ok(crate::json::quote(self).into_bytes())
    }
}

impl Encode for String {
    /// A JSON string.
    fn encode(&self) -> Result<Vec<u8>, String> {
        self.as_str().encode()
    }
}

impl Decode for String {
    /// A JSON string (null decodes to the empty string, as in Go).
    fn decode(payload: &[u8]) -> Result<String, String> {
        match parse(payload)? {
            Value::String(s) => Ok(s),
            Value::Null => Ok(String::new()),
            v => Err(format!("want a JSON string, got {}", v)),
        }
    }
}

impl Encode for bool {
    fn encode(&self) -> Result<Vec<u8>, String> {
        Ok(if *self { b"true".to_vec() } else { b"false".to_vec() })
    }
}

impl Decode for bool {
    fn decode(payload: &[u8]) -> Result<bool, String> {
        match parse(payload)? {
            Value::Bool(b) => Ok(b),
            Value::Null => Ok(false),
            v => Err(format!("want a JSON boolean, got {}", v)),
        }
    }
}

macro_rules! int_payload {
    ($($t:ty),*) => {$(
        impl Encode for $t {
            fn encode(&self) -> Result<Vec<u8>, String> {
                Ok(self.to_string().into_bytes())
            }
        }
        impl Decode for $t {
            fn decode(payload: &[u8]) -> Result<$t, String> {
                match parse(payload)? {
                    Value::Number(n) => n.parse().map_err(|_| format!("want an integer of type {}, got {}", stringify!($t), n)),
                    Value::Null => Ok(0),
                    v => Err(format!("want a JSON number, got {}", v)),
                }
            }
        }
    )*};
}
int_payload!(i32, i64, u32, u64, usize);

impl Encode for f64 {
    /// The number as Go's `encoding/json` writes a float64: the shortest text that reads back
    /// as the same number, in exponent form (`1e+21`, `1.5e-7`) below 1e-6 and from 1e21 on
    /// (so that an orchestration sends the bytes a Go one would). NaN and infinities do not
    /// encode.
    fn encode(&self) -> Result<Vec<u8>, String> {
        if !self.is_finite() {
            return Err(format!("unsupported value: {}", self));
        }
        let abs = self.abs();
        if abs != 0.0 && (abs < 1e-6 || abs >= 1e21) {
            // Rust writes the shortest mantissa and a bare exponent ("1.5e-7", "1e21"); Go
            // writes the exponent with its sign ("1.5e-7", "1e+21").
            let s = format!("{:e}", self);
            return Ok(match s.find('e') {
                Some(i) if !s[i + 1..].starts_with('-') => format!("{}e+{}", &s[..i], &s[i + 1..]),
                _ => s,
            }
            .into_bytes());
        }
        Ok(format!("{}", self).into_bytes())
    }
}

impl Decode for f64 {
    fn decode(payload: &[u8]) -> Result<f64, String> {
        match parse(payload)? {
            Value::Number(n) => n.parse().map_err(|_| format!("want a number, got {}", n)),
            Value::Null => Ok(0.0),
            v => Err(format!("want a JSON number, got {}", v)),
        }
    }
}

impl<T: Encode> Encode for Option<T> {
    /// `None` is JSON null.
    fn encode(&self) -> Result<Vec<u8>, String> {
        match self {
            Some(v) => v.encode(),
            None => Ok(b"null".to_vec()),
        }
    }
}

impl<T: Decode> Decode for Option<T> {
    /// JSON null (or an empty payload) is `None`.
    fn decode(payload: &[u8]) -> Result<Option<T>, String> {
        let t = text_of(payload)?.trim();
        if t.is_empty() || t == "null" {
            return Ok(None);
        }
        T::decode(payload).map(Some)
    }
}

impl<T: Encode> Encode for Vec<T> {
    /// A JSON array.
    fn encode(&self) -> Result<Vec<u8>, String> {
        let mut out = vec![b'['];
        for (i, v) in self.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(&v.encode()?);
        }
        out.push(b']');
        Ok(out)
    }
}

impl<T: Decode> Decode for Vec<T> {
    /// A JSON array (null is empty).
    fn decode(payload: &[u8]) -> Result<Vec<T>, String> {
        match parse(payload)? {
            Value::Array(a) => a.iter().map(|v| T::decode(v.to_json().as_bytes())).collect(),
            Value::Null => Ok(Vec::new()),
            v => Err(format!("want a JSON array, got {}", v)),
        }
    }
}

/// Encodes a typed value for a call, as a bad_payload failure when it cannot be.
pub(crate) fn encode_input<I: Encode + ?Sized>(what: &str, name: &str, v: &I) -> Result<Vec<u8>, Failure> {
    v.encode()
        .map_err(|e| Failure::bad_payload(format!("encode input of {} {}: {}", what, name, e)))
}

/// The decoder of typed futures.
pub(crate) fn typed<T: Decode>(b: Vec<u8>) -> Result<T, Failure> {
    T::decode(&b).map_err(|e| Failure::bad_payload(format!("decode result as {}: {}", std::any::type_name::<T>(), e)))
}

/// The decoder of text futures: the payload as UTF-8 text.
pub(crate) fn text(b: Vec<u8>) -> Result<String, Failure> {
    String::from_utf8(b).map_err(|e| Failure::bad_payload(format!("result is not UTF-8 text: {}", e)))
}

/// The decoder of timers: no payload.
pub(crate) fn unit(_: Vec<u8>) -> Result<(), Failure> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_encode_as_in_go() {
        // What Go's json.Marshal writes for these float64 values.
        for (f, want) in [
            (0.0, "0"),
            (-0.0, "-0"),
            (1.0, "1"),
            (0.1, "0.1"),
            (-2.5, "-2.5"),
            (123456789.0, "123456789"),
            (1e20, "100000000000000000000"),
            (1e21, "1e+21"),
            (-1.5e300, "-1.5e+300"),
            (0.000001, "0.000001"),
            (1e-7, "1e-7"),
            (1.5e-10, "1.5e-10"),
            (5e-324, "5e-324"),
            (f64::MAX, "1.7976931348623157e+308"),
        ] {
            assert_eq!(String::from_utf8(f.encode().unwrap()).unwrap(), want, "{:?}", f);
        }
        assert!(f64::NAN.encode().is_err());
        assert!(f64::INFINITY.encode().is_err());
    }
}
