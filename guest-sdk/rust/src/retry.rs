//! Retry policies of activities and sub-orchestrations.

use crate::failure::{Failure, FailureKind};
use std::time::Duration;

/// Retries an activity or a sub-orchestration. It is orchestration logic, not a host feature:
/// every attempt is a new command, every wait between attempts a durable timer, and an
/// attempt timeout a timer raced against the attempt (the loser is cancelled), so history
/// shows each step. The semantics, and so the histories, are those of the Go SDK's
/// `RetryPolicy`.
///
/// Failures of kind application are retried, and attempt timeouts; failures of kind
/// infrastructure or cancelled are not, nor application failures whose code is in
/// `non_retryable_codes`. The call fails with the last attempt's failure.
///
/// ```
/// use durohost::RetryPolicy;
/// use std::time::Duration;
/// let p = RetryPolicy::new(5)
///     .initial_interval(Duration::from_secs(1))
///     .backoff_coefficient(2.0)
///     .attempt_timeout(Duration::from_secs(30))
///     .non_retryable(&["E_FATAL"]);
/// assert_eq!(p.interval(3), Duration::from_secs(4));
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RetryPolicy {
    /// The number of attempts, the first included; 0 means no limit.
    pub max_attempts: u32,
    /// The wait before the second attempt; zero means 1 second.
    pub initial_interval: Duration,
    /// Multiplies the wait after every attempt; 0 means 2. Must be >= 1 otherwise.
    pub backoff_coefficient: f64,
    /// Caps the wait between attempts; zero means 100 × the initial interval.
    pub max_interval: Duration,
    /// Fails an attempt that takes longer, with kind timeout and code `attempt_timeout`, and
    /// cancels it; zero means no timeout.
    pub attempt_timeout: Duration,
    /// Failure codes that end the retries at once.
    pub non_retryable_codes: Vec<String>,
}

impl RetryPolicy {
    /// A policy of max_attempts attempts (0: no limit) with the default intervals.
    pub fn new(max_attempts: u32) -> RetryPolicy {
        RetryPolicy { max_attempts, ..RetryPolicy::default() }
    }

    /// Sets the wait before the second attempt.
    pub fn initial_interval(mut self, d: Duration) -> RetryPolicy {
        self.initial_interval = d;
        self
    }

    /// Sets the backoff coefficient.
    pub fn backoff_coefficient(mut self, c: f64) -> RetryPolicy {
        self.backoff_coefficient = c;
        self
    }

    /// Sets the largest wait between attempts.
    pub fn max_interval(mut self, d: Duration) -> RetryPolicy {
        self.max_interval = d;
        self
    }

    /// Sets the timeout of each attempt.
    pub fn attempt_timeout(mut self, d: Duration) -> RetryPolicy {
        self.attempt_timeout = d;
        self
    }

    /// Adds failure codes that are not retried.
    pub fn non_retryable(mut self, codes: &[&str]) -> RetryPolicy {
        self.non_retryable_codes.extend(codes.iter().map(|c| c.to_string()));
        self
    }

    /// Panics when the policy is invalid: a backoff coefficient that is neither 0 nor a
    /// finite number >= 1.
    pub(crate) fn validate(&self) {
        let c = self.backoff_coefficient;
        if c != 0.0 && !(c >= 1.0 && c.is_finite()) {
            panic!("durohost: RetryPolicy::backoff_coefficient {} is not a number >= 1", c);
        }
    }

    pub(crate) fn attempt_timeout_nanos(&self) -> i64 {
        nanos(self.attempt_timeout)
    }

    /// The wait after the given failed attempt (1 for the first), with the defaults applied.
    pub fn interval(&self, attempt: u32) -> Duration {
        Duration::from_nanos(self.interval_nanos(attempt) as u64)
    }

    pub(crate) fn interval_nanos(&self, attempt: u32) -> i64 {
        let mut initial = nanos(self.initial_interval);
        if initial == 0 {
            initial = 1_000_000_000;
        }
        let coef = if self.backoff_coefficient == 0.0 { 2.0 } else { self.backoff_coefficient };
        let mut max = nanos(self.max_interval);
        if max == 0 {
            max = initial.saturating_mul(100);
        }
        let d = initial as f64 * go_pow_int(coef, attempt.saturating_sub(1) as u64);
        if d >= max as f64 {
            return max;
        }
        d as i64
    }

    pub(crate) fn retryable(&self, f: &Failure) -> bool {
        if f.kind != FailureKind::Application && f.kind != FailureKind::Timeout {
            return false;
        }
        !self.non_retryable_codes.iter().any(|c| *c == f.code)
    }
}

/// A duration in nanoseconds, saturated to i64.
pub(crate) fn nanos(d: Duration) -> i64 {
    let n = d.as_nanos();
    if n > i64::MAX as u128 {
        i64::MAX
    } else {
        n as i64
    }
}

/// x to the power y for an integer y >= 0, computed as Go's math.Pow computes it (repeated
/// squaring of the mantissa), so that backoff intervals are the same to the nanosecond as the
/// Go SDK's.
fn go_pow_int(x: f64, y: u64) -> f64 {
    if y == 0 || x == 1.0 {
        return 1.0;
    }
    if y == 1 {
        return x;
    }
    if x.is_nan() {
        return x;
    }
    if x.is_infinite() || x == 0.0 {
        return x.powi(y.min(i32::MAX as u64) as i32);
    }
    let mut a1 = 1.0f64;
    let mut ae: i64 = 0;
    let (mut x1, mut xe) = frexp(x);
    let mut i = y;
    while i != 0 {
        if xe < -(1 << 12) || (1 << 12) < xe {
            ae += xe;
            break;
        }
        if i & 1 == 1 {
            a1 *= x1;
            ae += xe;
        }
        x1 *= x1;
        xe <<= 1;
        if x1 < 0.5 {
            x1 += x1;
            xe -= 1;
        }
        i >>= 1;
    }
    ldexp(a1, ae)
}

/// Splits a finite, non-zero x into a fraction in [0.5, 1) and a power of two.
fn frexp(x: f64) -> (f64, i64) {
    let mut x = x;
    let mut e = 0i64;
    if x.abs() < f64::MIN_POSITIVE {
        x *= (1u64 << 52) as f64;
        e = -52;
    }
    let bits = x.to_bits();
    e += ((bits >> 52) & 0x7ff) as i64 - 1022;
    let frac = f64::from_bits((bits & !(0x7ff << 52)) | (1022 << 52));
    (frac, e)
}

/// frac × 2^exp.
fn ldexp(frac: f64, exp: i64) -> f64 {
    let mut r = frac;
    let mut e = exp;
    while e > 1000 {
        r *= 2f64.powi(1000);
        e -= 1000;
    }
    while e < -1000 {
        r *= 2f64.powi(-1000);
        e += 1000;
    }
    r * 2f64.powi(e as i32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_follow_the_go_sdk() {
        let p = RetryPolicy::new(5).initial_interval(Duration::from_millis(10)).backoff_coefficient(3.0).max_interval(Duration::from_millis(20));
        assert_eq!(p.interval(1), Duration::from_millis(10));
        assert_eq!(p.interval(2), Duration::from_millis(20));
        assert_eq!(p.interval(3), Duration::from_millis(20));
        let d = RetryPolicy::new(0);
        assert_eq!(d.interval(1), Duration::from_secs(1));
        assert_eq!(d.interval(4), Duration::from_secs(8));
        assert_eq!(d.interval(20), Duration::from_secs(100));
        assert_eq!(go_pow_int(1.5, 3), 3.375);
        assert_eq!(go_pow_int(2.0, 10), 1024.0);
    }

    #[test]
    fn retryable_kinds_and_codes() {
        let p = RetryPolicy::new(3).non_retryable(&["E_FATAL"]);
        assert!(p.retryable(&Failure::application("E", "x")));
        assert!(!p.retryable(&Failure::application("E_FATAL", "x")));
        assert!(p.retryable(&Failure::new(FailureKind::Timeout, "attempt_timeout", "x")));
        assert!(!p.retryable(&Failure::new(FailureKind::Cancelled, "", "x")));
    }
}
