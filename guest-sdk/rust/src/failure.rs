//! Failures crossing the ABI.

use std::fmt;

/// Classifies a failure (ABI.md, "Failure").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureKind {
    /// Returned by user code: an activity, an orchestration.
    Application = 1,
    /// A platform failure. The host never delivers one to orchestration code; an SDK reports
    /// its own (a message it cannot decode, an unregistered orchestration) with it.
    Infrastructure = 2,
    /// The work was cancelled.
    Cancelled = 3,
    /// A deadline passed (an attempt of a retried call, see [`RetryPolicy::attempt_timeout`](crate::RetryPolicy)).
    Timeout = 4,
}

impl FailureKind {
    pub(crate) fn from_u64(k: u64) -> Option<FailureKind> {
        match k {
            1 => Some(FailureKind::Application),
            2 => Some(FailureKind::Infrastructure),
            3 => Some(FailureKind::Cancelled),
            4 => Some(FailureKind::Timeout),
            _ => None,
        }
    }

    /// The kind's name: `application`, `infrastructure`, `cancelled` or `timeout`.
    pub fn name(self) -> &'static str {
        match self {
            FailureKind::Application => "application",
            FailureKind::Infrastructure => "infrastructure",
            FailureKind::Cancelled => "cancelled",
            FailureKind::Timeout => "timeout",
        }
    }
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Codes the SDK puts in [`Failure::code`] for the failures it produces itself. They are the
/// codes every durohost SDK uses (ABI.md, "Failure codes"), so the same orchestration records
/// the same history in any language.
pub mod codes {
    /// The orchestration panicked.
    pub const PANIC: &str = "panic";
    /// An attempt of a retried call exceeded its timeout (kind timeout).
    pub const ATTEMPT_TIMEOUT: &str = "attempt_timeout";
    /// A payload could not be encoded or decoded by a typed helper.
    pub const BAD_PAYLOAD: &str = "bad_payload";
}

/// A failure: of an activity, a sub-orchestration or a cancelled future as the orchestration
/// sees it, and the failure an orchestration ends with when it returns `Err`.
///
/// `Failure` converts from `String` and `&str` (an application failure with that message and
/// no code), so an orchestration may return `Err("...".into())` or use `?` on its own errors
/// formatted as strings; the `?` of a failed call propagates the call's failure unchanged
/// (kind, code, message and details).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The failure's kind.
    pub kind: FailureKind,
    /// A stable machine-readable code: a `DH-...` code of the host, one of [`codes`], or an
    /// application's own; may be empty.
    pub code: String,
    /// A human-readable description.
    pub message: String,
    /// An opaque payload, JSON by convention; may be empty.
    pub details: Vec<u8>,
    /// Set on the value returned by `continue_as_new`: the run loop turns it into a
    /// continued_as_new outcome.
    pub(crate) continue_as_new: Option<Box<(Vec<u8>, String)>>,
}

impl Failure {
    /// A failure of the given kind, code (may be empty) and message.
    pub fn new(kind: FailureKind, code: &str, message: &str) -> Failure {
        Failure {
            kind,
            code: code.to_string(),
            message: message.to_string(),
            details: Vec::new(),
            continue_as_new: None,
        }
    }

    /// An application failure with a code (may be empty) and a message.
    pub fn application(code: &str, message: &str) -> Failure {
        Failure::new(FailureKind::Application, code, message)
    }

    /// Returns the failure with its details set.
    pub fn with_details(mut self, details: impl Into<Vec<u8>>) -> Failure {
        self.details = details.into();
        self
    }

    /// Whether the failure is a cancellation (a future cancelled by `select` or `cancel`).
    pub fn is_cancelled(&self) -> bool {
        self.kind == FailureKind::Cancelled
    }

    /// Whether the failure is a timeout (an attempt of a retried call).
    pub fn is_timeout(&self) -> bool {
        self.kind == FailureKind::Timeout
    }

    /// Whether this value is the request of `continue_as_new`, not a failure.
    pub fn is_continue_as_new(&self) -> bool {
        self.continue_as_new.is_some()
    }

    pub(crate) fn cancelled() -> Failure {
        Failure::new(FailureKind::Cancelled, "", "future cancelled by the orchestration")
    }

    pub(crate) fn bad_payload(message: String) -> Failure {
        Failure::new(FailureKind::Application, codes::BAD_PAYLOAD, &message)
    }
}

impl fmt::Display for Failure {
    /// Formats the failure as `kind [code]: message` (`kind: message` without a code), like
    /// the Go SDK.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.continue_as_new.is_some() {
            return f.write_str("continue as new");
        }
        if self.code.is_empty() {
            write!(f, "{}: {}", self.kind, self.message)
        } else {
            write!(f, "{} [{}]: {}", self.kind, self.code, self.message)
        }
    }
}

impl std::error::Error for Failure {}

impl From<String> for Failure {
    fn from(message: String) -> Failure {
        Failure::new(FailureKind::Application, "", &message)
    }
}

impl From<&str> for Failure {
    fn from(message: &str) -> Failure {
        Failure::new(FailureKind::Application, "", message)
    }
}
