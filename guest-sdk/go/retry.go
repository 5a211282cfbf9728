package durable

import (
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/durohost/durohost/abi"
)

// RetryPolicy retries an activity or a sub-orchestration. It is orchestration logic, not a
// host feature: every attempt is a new command, every wait between attempts a durable timer,
// and an attempt timeout a timer raced against the attempt (the loser is cancelled), so
// history shows each step.
//
// Failures of kind application are retried, and attempt timeouts; failures of kind
// infrastructure or cancelled are not, nor application failures whose code is in
// NonRetryableCodes. The future fails with the last attempt's error.
type RetryPolicy struct {
	// MaxAttempts is the number of attempts, the first included; 0 means no limit.
	MaxAttempts int
	// InitialInterval is the wait before the second attempt; 0 means 1 second.
	InitialInterval time.Duration
	// BackoffCoefficient multiplies the wait after every attempt; 0 means 2. Must be >= 1.
	BackoffCoefficient float64
	// MaxInterval caps the wait between attempts; 0 means 100 × InitialInterval.
	MaxInterval time.Duration
	// AttemptTimeout fails an attempt that takes longer, with kind timeout and code
	// CodeAttemptTimeout, and cancels it; 0 means no timeout.
	AttemptTimeout time.Duration
	// NonRetryableCodes lists failure codes that end the retries at once.
	NonRetryableCodes []string
}

func (p *RetryPolicy) validate() {
	switch {
	case p.MaxAttempts < 0:
		panic("durable: RetryPolicy.MaxAttempts is negative")
	case p.InitialInterval < 0, p.MaxInterval < 0, p.AttemptTimeout < 0:
		panic("durable: RetryPolicy has a negative duration")
	case p.BackoffCoefficient != 0 && (p.BackoffCoefficient < 1 || math.IsInf(p.BackoffCoefficient, 0) || math.IsNaN(p.BackoffCoefficient)):
		panic(fmt.Sprintf("durable: RetryPolicy.BackoffCoefficient %v is not a number >= 1", p.BackoffCoefficient))
	}
}

// Interval returns the wait after the given failed attempt (1 for the first), with the
// defaults applied.
func (p RetryPolicy) Interval(attempt int) time.Duration {
	initial := p.InitialInterval
	if initial == 0 {
		initial = time.Second
	}
	coef := p.BackoffCoefficient
	if coef == 0 {
		coef = 2
	}
	maxInterval := p.MaxInterval
	if maxInterval == 0 {
		maxInterval = 100 * initial
	}
	d := float64(initial) * math.Pow(coef, float64(max(attempt-1, 0)))
	if d >= float64(maxInterval) {
		return maxInterval
	}
	return time.Duration(d)
}

// retryable reports whether an attempt's error allows another attempt.
func (p *RetryPolicy) retryable(err *Error) bool {
	if err.Kind != abi.FailureApplication && err.Kind != abi.FailureTimeout {
		return false
	}
	return !slices.Contains(p.NonRetryableCodes, err.Code)
}

// retryMachine runs the attempts of a call: attempt (with its timeout timer), then a backoff
// timer, then the next attempt.
type retryMachine struct {
	ctx     *Context
	cmd     abi.Command
	policy  RetryPolicy
	attempt int    // attempts started
	call    uint32 // current attempt, 0 when none
	timeout uint32 // its timeout timer, 0 when none
	backoff uint32 // backoff timer, 0 when none
}

func newRetryMachine(c *Context, cmd abi.Command, p RetryPolicy) *retryMachine {
	m := &retryMachine{ctx: c, cmd: cmd, policy: p}
	m.start()
	return m
}

func (m *retryMachine) start() {
	m.attempt++
	m.call = m.ctx.schedule(&m.cmd)
	if m.policy.AttemptTimeout > 0 {
		m.timeout = m.ctx.schedule(&abi.Command{Kind: abi.CommandTimer, Delay: int64(m.policy.AttemptTimeout)})
	}
}

func (m *retryMachine) waiting(dst []uint32) []uint32 {
	if m.backoff != 0 {
		return append(dst, m.backoff)
	}
	dst = append(dst, m.call)
	if m.timeout != 0 {
		dst = append(dst, m.timeout)
	}
	return dst
}

func (m *retryMachine) ready(h uint32) (bool, []byte, error) {
	var err error
	switch h {
	case m.backoff:
		m.backoff = 0
		if _, err := m.ctx.readResult(h); err != nil {
			return true, nil, err // the timer itself failed (cancellation)
		}
		m.start()
		return false, nil, nil
	case m.call:
		m.call = 0
		var res []byte
		res, err = m.ctx.readResult(h)
		if m.timeout != 0 {
			m.ctx.cancelHandle(m.timeout)
			m.timeout = 0
		}
		if err == nil {
			return true, res, nil
		}
	case m.timeout:
		m.timeout = 0
		if _, terr := m.ctx.readResult(h); terr != nil {
			m.ctx.cancelHandle(m.call)
			m.call = 0
			return true, nil, terr
		}
		m.ctx.cancelHandle(m.call)
		m.call = 0
		err = &Error{Kind: abi.FailureTimeout, Code: CodeAttemptTimeout,
			Message: fmt.Sprintf("%s %q: attempt %d timed out after %v", m.cmd.Kind, m.cmd.Name, m.attempt, m.policy.AttemptTimeout)}
	default:
		panic(fmt.Sprintf("durable: internal error: retry of %q woken by foreign handle %d", m.cmd.Name, h))
	}
	e, ok := err.(*Error)
	if !ok || !m.policy.retryable(e) || (m.policy.MaxAttempts > 0 && m.attempt >= m.policy.MaxAttempts) {
		return true, nil, err
	}
	m.backoff = m.ctx.schedule(&abi.Command{Kind: abi.CommandTimer, Delay: int64(m.policy.Interval(m.attempt))})
	return false, nil, nil
}

func (m *retryMachine) cancel() {
	for _, h := range []uint32{m.call, m.timeout, m.backoff} {
		if h != 0 {
			m.ctx.cancelHandle(h)
		}
	}
	m.call, m.timeout, m.backoff = 0, 0, 0
}
