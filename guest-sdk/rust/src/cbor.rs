//! The CBOR messages of the ABI (abi/ABI.md, "Messages"): the SDK encodes `Command` and
//! `Outcome` and decodes `StartInfo` and `Completion`. Only what these messages use is
//! implemented: unsigned and negative integers, byte and text strings, arrays and maps, all of
//! definite length.

use crate::failure::{Failure, FailureKind};
use std::fmt;

/// A message the host sent could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DecodeError(pub(crate) String);

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

const MAJOR_UINT: u8 = 0;
const MAJOR_NINT: u8 = 1;
const MAJOR_BYTES: u8 = 2;
const MAJOR_TEXT: u8 = 3;
const MAJOR_ARRAY: u8 = 4;
const MAJOR_MAP: u8 = 5;

/// Appends a CBOR head: major type and argument, in the shortest form.
fn head(out: &mut Vec<u8>, major: u8, n: u64) {
    let m = major << 5;
    if n < 24 {
        out.push(m | n as u8);
    } else if n <= 0xff {
        out.push(m | 24);
        out.push(n as u8);
    } else if n <= 0xffff {
        out.push(m | 25);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else if n <= 0xffff_ffff {
        out.push(m | 26);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    } else {
        out.push(m | 27);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

fn uint(out: &mut Vec<u8>, n: u64) {
    head(out, MAJOR_UINT, n)
}

fn int(out: &mut Vec<u8>, n: i64) {
    if n >= 0 {
        head(out, MAJOR_UINT, n as u64)
    } else {
        head(out, MAJOR_NINT, (-1 - n) as u64)
    }
}

fn bytes(out: &mut Vec<u8>, b: &[u8]) {
    head(out, MAJOR_BYTES, b.len() as u64);
    out.extend_from_slice(b);
}

fn text(out: &mut Vec<u8>, s: &str) {
    head(out, MAJOR_TEXT, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

/// Command kinds (ABI.md, "Command").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CommandKind {
    Activity = 1,
    Timer = 2,
    WaitEvent = 3,
    Dequeue = 4,
    SubOrchestration = 5,
    StartOrchestration = 6,
}

impl CommandKind {
    /// The kind's name in messages, as the Go SDK spells it.
    pub(crate) fn name(self) -> &'static str {
        match self {
            CommandKind::Activity => "activity",
            CommandKind::Timer => "timer",
            CommandKind::WaitEvent => "wait_event",
            CommandKind::Dequeue => "dequeue",
            CommandKind::SubOrchestration => "sub_orchestration",
            CommandKind::StartOrchestration => "start_orchestration",
        }
    }
}

/// A command for `schedule`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Command {
    pub kind: CommandKind,
    pub name: String,
    pub input: Vec<u8>,
    pub version: String,
    pub instance_id: String,
    pub delay: i64,
}

impl Command {
    pub(crate) fn new(kind: CommandKind, name: &str, input: &[u8]) -> Command {
        Command {
            kind,
            name: name.to_string(),
            input: input.to_vec(),
            version: String::new(),
            instance_id: String::new(),
            delay: 0,
        }
    }

    #[cfg(test)]
    pub(crate) fn timer(delay: i64) -> Command {
        Command { delay, ..Command::new(CommandKind::Timer, "", &[]) }
    }
}

/// Appends the encoding of a command; fields with a zero value are omitted.
#[cfg(test)]
pub(crate) fn encode_command(out: &mut Vec<u8>, c: &Command) {
    encode_command_parts(out, c.kind, &c.name, &c.input, &c.version, &c.instance_id, c.delay)
}

/// encode_command without a Command value, so that the common calls need no allocation.
pub(crate) fn encode_command_parts(
    out: &mut Vec<u8>,
    kind: CommandKind,
    name: &str,
    input: &[u8],
    version: &str,
    instance_id: &str,
    delay: i64,
) {
    let n = 1
        + !name.is_empty() as u64
        + !input.is_empty() as u64
        + !version.is_empty() as u64
        + !instance_id.is_empty() as u64
        + (delay != 0) as u64;
    head(out, MAJOR_MAP, n);
    uint(out, 1);
    uint(out, kind as u64);
    if !name.is_empty() {
        uint(out, 2);
        text(out, name);
    }
    if !input.is_empty() {
        uint(out, 3);
        bytes(out, input);
    }
    if !version.is_empty() {
        uint(out, 4);
        text(out, version);
    }
    if !instance_id.is_empty() {
        uint(out, 5);
        text(out, instance_id);
    }
    if delay != 0 {
        uint(out, 6);
        int(out, delay);
    }
}

fn encode_failure(out: &mut Vec<u8>, f: &Failure) {
    let n = 1 + !f.code.is_empty() as u64 + !f.message.is_empty() as u64 + !f.details.is_empty() as u64;
    head(out, MAJOR_MAP, n);
    uint(out, 1);
    uint(out, f.kind as u64);
    if !f.code.is_empty() {
        uint(out, 2);
        text(out, &f.code);
    }
    if !f.message.is_empty() {
        uint(out, 3);
        text(out, &f.message);
    }
    if !f.details.is_empty() {
        uint(out, 4);
        bytes(out, &f.details);
    }
}

/// How an execution ends (ABI.md, "Outcome").
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    Completed(Vec<u8>),
    Failed(Failure),
    ContinuedAsNew { input: Vec<u8>, version: String },
    Describe(Vec<(String, String)>),
}

pub(crate) fn encode_outcome(out: &mut Vec<u8>, o: &Outcome) {
    match o {
        Outcome::Completed(output) => {
            head(out, MAJOR_MAP, 1 + !output.is_empty() as u64);
            uint(out, 1);
            uint(out, 1);
            if !output.is_empty() {
                uint(out, 2);
                bytes(out, output);
            }
        }
        Outcome::Failed(f) => {
            head(out, MAJOR_MAP, 2);
            uint(out, 1);
            uint(out, 2);
            uint(out, 3);
            encode_failure(out, f);
        }
        Outcome::ContinuedAsNew { input, version } => {
            head(out, MAJOR_MAP, 1 + !input.is_empty() as u64 + !version.is_empty() as u64);
            uint(out, 1);
            uint(out, 3);
            if !input.is_empty() {
                uint(out, 4);
                bytes(out, input);
            }
            if !version.is_empty() {
                uint(out, 5);
                text(out, version);
            }
        }
        Outcome::Describe(regs) => {
            head(out, MAJOR_MAP, 2);
            uint(out, 1);
            uint(out, 4);
            uint(out, 6);
            head(out, MAJOR_ARRAY, regs.len() as u64);
            for (name, version) in regs {
                head(out, MAJOR_MAP, 1 + !version.is_empty() as u64);
                uint(out, 1);
                text(out, name);
                if !version.is_empty() {
                    uint(out, 2);
                    text(out, version);
                }
            }
        }
    }
}

/// What the host asks the guest to run (ABI.md, "StartInfo").
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct StartInfo {
    pub mode: u64,
    pub name: String,
    pub version: String,
    pub instance_id: String,
    pub execution_id: u32,
    pub input: Vec<u8>,
    pub parent_id: String,
    pub custom_status: Option<Vec<u8>>,
    pub start_time: i64,
}

/// A CBOR reader over one message.
struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn err<T>(&self, what: &str) -> Result<T, DecodeError> {
        Err(DecodeError(format!("CBOR at byte {}: {}", self.pos, what)))
    }

    /// Reads a head: (major type, argument).
    fn head(&mut self) -> Result<(u8, u64), DecodeError> {
        let first = match self.b.get(self.pos) {
            Some(&x) => x,
            None => return self.err("unexpected end"),
        };
        self.pos += 1;
        let major = first >> 5;
        let info = first & 0x1f;
        let n = match info {
            0..=23 => info as u64,
            24..=27 => {
                let size = 1usize << (info - 24);
                if self.pos + size > self.b.len() {
                    return self.err("unexpected end");
                }
                let mut v = 0u64;
                for &x in &self.b[self.pos..self.pos + size] {
                    v = v << 8 | x as u64;
                }
                self.pos += size;
                v
            }
            _ => return self.err("indefinite lengths and reserved values are not used by the ABI"),
        };
        Ok((major, n))
    }

    fn uint(&mut self) -> Result<u64, DecodeError> {
        match self.head()? {
            (MAJOR_UINT, n) => Ok(n),
            _ => self.err("want an unsigned integer"),
        }
    }

    fn int(&mut self) -> Result<i64, DecodeError> {
        match self.head()? {
            (MAJOR_UINT, n) if n <= i64::MAX as u64 => Ok(n as i64),
            (MAJOR_NINT, n) if n <= i64::MAX as u64 => Ok(-1 - n as i64),
            _ => self.err("want an integer"),
        }
    }

    fn raw(&mut self, major: u8) -> Result<&'a [u8], DecodeError> {
        let (m, n) = self.head()?;
        if m != major {
            return self.err("want a byte or text string");
        }
        // Compared as u64: on wasm32 `n as usize` would keep the low 32 bits of a longer length.
        if n > (self.b.len() - self.pos) as u64 {
            return self.err("string longer than the message");
        }
        let n = n as usize;
        let s = &self.b[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn bytes(&mut self) -> Result<Vec<u8>, DecodeError> {
        Ok(self.raw(MAJOR_BYTES)?.to_vec())
    }

    fn text(&mut self) -> Result<String, DecodeError> {
        let pos = self.pos;
        let raw = self.raw(MAJOR_TEXT)?;
        match std::str::from_utf8(raw) {
            Ok(s) => Ok(s.to_string()),
            Err(_) => Err(DecodeError(format!("CBOR at byte {}: text is not UTF-8", pos))),
        }
    }

    fn map(&mut self) -> Result<u64, DecodeError> {
        match self.head()? {
            (MAJOR_MAP, n) => Ok(n),
            _ => self.err("want a map"),
        }
    }

    /// Reads the key of a map entry: an unsigned integer not seen before in the map (seen
    /// holds a bit per key below 64; keys above are unknown to every message).
    fn key(&mut self, seen: &mut u64) -> Result<u64, DecodeError> {
        let pos = self.pos;
        let k = self.uint()?;
        if k < 64 {
            if *seen & (1 << k) != 0 {
                return Err(DecodeError(format!("CBOR at byte {}: duplicate key {}", pos, k)));
            }
            *seen |= 1 << k;
        }
        Ok(k)
    }

    /// The error of a key the message does not define (the host's messages are exactly those
    /// of ABI.md, as the Go SDK's decoder holds them).
    fn unknown<T>(&self, what: &str, k: u64) -> Result<T, DecodeError> {
        self.err(&format!("unknown {} field {}", what, k))
    }

    fn end(&self) -> Result<(), DecodeError> {
        if self.pos != self.b.len() {
            return self.err("trailing bytes");
        }
        Ok(())
    }
}

pub(crate) fn decode_start_info(b: &[u8]) -> Result<StartInfo, DecodeError> {
    let mut r = Reader { b, pos: 0 };
    let mut info = StartInfo::default();
    let mut seen = 0;
    for _ in 0..r.map()? {
        match r.key(&mut seen)? {
            1 => info.mode = r.uint()?,
            2 => info.name = r.text()?,
            3 => info.version = r.text()?,
            4 => info.instance_id = r.text()?,
            5 => {
                let n = r.uint()?;
                info.execution_id = u32::try_from(n).map_err(|_| DecodeError(format!("execution ID {} out of range", n)))?
            }
            6 => info.input = r.bytes()?,
            7 => info.parent_id = r.text()?,
            8 => {
                let s = r.bytes()?;
                info.custom_status = if s.is_empty() { None } else { Some(s) };
            }
            9 => info.start_time = r.int()?,
            k => return r.unknown("StartInfo", k),
        }
    }
    r.end()?;
    Ok(info)
}

fn decode_failure(r: &mut Reader<'_>) -> Result<Failure, DecodeError> {
    let mut f = Failure::new(FailureKind::Application, "", "");
    let mut seen = 0;
    for _ in 0..r.map()? {
        match r.key(&mut seen)? {
            1 => {
                let k = r.uint()?;
                f.kind = FailureKind::from_u64(k).ok_or_else(|| DecodeError(format!("unknown failure kind {}", k)))?
            }
            2 => f.code = r.text()?,
            3 => f.message = r.text()?,
            4 => f.details = r.bytes()?,
            k => return r.unknown("Failure", k),
        }
    }
    Ok(f)
}

/// Decodes a Command (the fake host of the unit tests reads what the SDK schedules).
#[cfg(test)]
pub(crate) fn decode_command(b: &[u8]) -> Result<Command, DecodeError> {
    let mut r = Reader { b, pos: 0 };
    let mut c = Command::new(CommandKind::Activity, "", &[]);
    for _ in 0..r.map()? {
        match r.uint()? {
            1 => {
                c.kind = match r.uint()? {
                    1 => CommandKind::Activity,
                    2 => CommandKind::Timer,
                    3 => CommandKind::WaitEvent,
                    4 => CommandKind::Dequeue,
                    5 => CommandKind::SubOrchestration,
                    6 => CommandKind::StartOrchestration,
                    k => return Err(DecodeError(format!("unknown command kind {}", k))),
                }
            }
            2 => c.name = r.text()?,
            3 => c.input = r.bytes()?,
            4 => c.version = r.text()?,
            5 => c.instance_id = r.text()?,
            6 => c.delay = r.int()?,
            k => return Err(DecodeError(format!("unknown command key {}", k))),
        }
    }
    r.end()?;
    Ok(c)
}

/// Decodes a Completion: the result, or the failure.
pub(crate) fn decode_completion(b: &[u8]) -> Result<Result<Vec<u8>, Failure>, DecodeError> {
    let mut r = Reader { b, pos: 0 };
    let mut result = Vec::new();
    let mut failure = None;
    let mut seen = 0;
    for _ in 0..r.map()? {
        match r.key(&mut seen)? {
            1 => result = r.bytes()?,
            2 => failure = Some(decode_failure(&mut r)?),
            k => return r.unknown("Completion", k),
        }
    }
    r.end()?;
    Ok(match failure {
        Some(f) => Err(f),
        None => Ok(result),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_encoding_is_shortest_form() {
        let mut out = Vec::new();
        encode_command(&mut out, &Command::new(CommandKind::Activity, "a", b"1"));
        assert_eq!(out, vec![0xa3, 0x01, 0x01, 0x02, 0x61, b'a', 0x03, 0x41, b'1']);
        out.clear();
        encode_command(&mut out, &Command::timer(1_000_000));
        assert_eq!(out, vec![0xa2, 0x01, 0x02, 0x06, 0x1a, 0x00, 0x0f, 0x42, 0x40]);
    }

    #[test]
    fn start_info_round_trip_of_host_encoding() {
        // {1: 0, 2: "x", 4: "root", 5: 1, 6: h'6e756c6c', 8: h'', 9: -1}
        let b = [
            0xa7, 0x01, 0x00, 0x02, 0x61, b'x', 0x04, 0x64, b'r', b'o', b'o', b't', 0x05, 0x01, 0x06, 0x44, b'n', b'u',
            b'l', b'l', 0x08, 0x40, 0x09, 0x20,
        ];
        let info = decode_start_info(&b).unwrap();
        assert_eq!(info.name, "x");
        assert_eq!(info.instance_id, "root");
        assert_eq!(info.execution_id, 1);
        assert_eq!(info.input, b"null");
        assert_eq!(info.custom_status, None);
        assert_eq!(info.start_time, -1);
    }

    #[test]
    fn completion_with_failure() {
        // {2: {1: 3, 3: "c"}}
        let b = [0xa1, 0x02, 0xa2, 0x01, 0x03, 0x03, 0x61, b'c'];
        let f = decode_completion(&b).unwrap().unwrap_err();
        assert_eq!(f.kind, FailureKind::Cancelled);
        assert_eq!(f.message, "c");
        assert!(decode_completion(&[0xa1, 0x01]).is_err());
        assert!(decode_completion(&[0xa0, 0x00]).is_err());
    }

    #[test]
    fn host_messages_are_decoded_as_strictly_as_the_go_sdk_does() {
        let bad: [(&str, &[u8], &str); 6] = [
            ("empty completion", &[], "unexpected end"),
            ("unknown completion key", &[0xa1, 0x03, 0x40], "unknown Completion field 3"),
            ("duplicate completion key", &[0xa2, 0x01, 0x40, 0x01, 0x40], "duplicate key 1"),
            ("unknown failure key", &[0xa1, 0x02, 0xa2, 0x01, 0x01, 0x05, 0x00], "unknown Failure field 5"),
            ("duplicate failure key", &[0xa1, 0x02, 0xa2, 0x01, 0x01, 0x01, 0x01], "duplicate key 1"),
            ("key beyond 64", &[0xa1, 0x18, 0x63, 0x00], "unknown Completion field 99"),
        ];
        for (name, b, want) in bad {
            match decode_completion(b) {
                Err(e) => assert!(e.0.contains(want), "{}: {}", name, e),
                Ok(c) => panic!("{}: decoded {:?}", name, c),
            }
        }
        assert!(decode_start_info(&[0xa1, 0x0a, 0x00]).unwrap_err().0.contains("unknown StartInfo field 10"));
        assert!(decode_start_info(&[0xa2, 0x05, 0x01, 0x05, 0x02]).unwrap_err().0.contains("duplicate key 5"));
        // {5: 2^32}: an execution ID beyond u32 is refused, not truncated to 0.
        let e = decode_start_info(&[0xa1, 0x05, 0x1b, 0, 0, 0, 1, 0, 0, 0, 0]).unwrap_err();
        assert!(e.0.contains("execution ID 4294967296 out of range"), "{}", e);
        assert_eq!(decode_completion(&[0xa0]).unwrap(), Ok(Vec::new()));
    }
}
