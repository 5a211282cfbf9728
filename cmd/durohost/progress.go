package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/durohost/durohost/abi"
	"github.com/durohost/durohost/history"
	"github.com/durohost/durohost/host"
)

// progress prints one short line per history event the host commits, for the CLI's stderr.
// Events of the main instance are printed as they are; those of other instances (children,
// or other work in the same database) carry the instance ID in brackets.
type progress struct {
	mu    sync.Mutex
	w     io.Writer
	start time.Time
	main  string
	// labels remember what each decision was ("activity echo"), per instance and event ID,
	// so that completions can say what completed.
	labels map[string]map[int64]string
	// storeArg is appended to the client commands the lines suggest (" --store X" when the
	// run's store is not the default one).
	storeArg string
}

func newProgress(w io.Writer) *progress {
	return &progress{w: w, start: time.Now(), labels: map[string]map[int64]string{}}
}

// setMain sets the instance whose events are printed without a prefix.
func (p *progress) setMain(id string) {
	p.mu.Lock()
	p.main = id
	p.start = time.Now()
	p.mu.Unlock()
}

// observe is the host's observer (host.WithObserver).
func (p *progress) observe(ev host.Event) {
	if ev.Activity != "" || len(ev.Events) == 0 {
		return // activity runs are visible as their scheduled and completed events
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := range ev.Events {
		e := &ev.Events[i]
		if line := p.describe(ev.InstanceID, e); line != "" {
			p.printf(ev.InstanceID, "#%d %s", e.ID, line)
		}
		if e.Kind.IsTerminal() {
			delete(p.labels, ev.InstanceID)
		}
	}
}

// printf writes one progress line; p.mu is held.
func (p *progress) printf(instance, format string, args ...any) {
	prefix := ""
	if instance != "" && instance != p.main {
		prefix = "[" + instance + "] "
	}
	fmt.Fprintf(p.w, "%8s  %s%s\n", fmt.Sprintf("+%.2fs", time.Since(p.start).Seconds()), prefix, fmt.Sprintf(format, args...))
}

// label remembers what decision id of instance was, and returns it.
func (p *progress) label(instance string, id int64, what string) string {
	m := p.labels[instance]
	if m == nil {
		m = map[int64]string{}
		p.labels[instance] = m
	}
	m[id] = what
	return what
}

// ref names the decision a completion refers to.
func (p *progress) ref(instance string, ref int64, kind string) string {
	if what, ok := p.labels[instance][ref]; ok {
		kind = what
	}
	return fmt.Sprintf("%s #%d", kind, ref)
}

// describe summarises one event, or returns "" for bookkeeping events.
func (p *progress) describe(inst string, e *history.Event) string {
	switch e.Kind {
	case history.KindExecutionStarted:
		s := "started " + e.Name
		if e.Version != "" {
			s += " version " + e.Version
		}
		return s + " with input " + short(e.Input)
	case history.KindActivityScheduled:
		return p.label(inst, e.ID, "activity "+e.Name) + " scheduled with input " + short(e.Input)
	case history.KindActivityCompleted:
		return p.ref(inst, e.Ref, "activity") + " completed: " + short(e.Result)
	case history.KindActivityFailed:
		return p.ref(inst, e.Ref, "activity") + " failed: " + failure(e.Failure)
	case history.KindTimerCreated:
		d := time.Duration(e.FireAt - e.Time)
		p.label(inst, e.ID, "timer")
		return fmt.Sprintf("timer created, fires in %s", d.Round(time.Millisecond))
	case history.KindTimerFired:
		return p.ref(inst, e.Ref, "timer") + " fired"
	case history.KindEventSubscribed:
		return "waiting for " + p.label(inst, e.ID, fmt.Sprintf("event %q", e.Name)) +
			fmt.Sprintf(" (send it from another terminal: durohost raise %s %s 'JSON'%s)", shellWord(inst), shellWord(e.Name), p.storeArg)
	case history.KindEventRaised:
		return fmt.Sprintf("event %q received: %s", e.Name, short(e.Input))
	case history.KindQueueSubscribed:
		return "waiting for " + p.label(inst, e.ID, fmt.Sprintf("a message on queue %q", e.Name)) +
			fmt.Sprintf(" (send one from another terminal: durohost enqueue %s %s 'JSON'%s)", shellWord(inst), shellWord(e.Name), p.storeArg)
	case history.KindQueueMessage:
		return fmt.Sprintf("message on queue %q received: %s", e.Name, short(e.Input))
	case history.KindSubOrchestrationScheduled:
		return p.label(inst, e.ID, "sub-orchestration "+e.Name+" ["+e.InstanceID+"]") + " started with input " + short(e.Input)
	case history.KindSubOrchestrationCompleted:
		return p.ref(inst, e.Ref, "sub-orchestration") + " completed: " + short(e.Result)
	case history.KindSubOrchestrationFailed:
		return p.ref(inst, e.Ref, "sub-orchestration") + " failed: " + failure(e.Failure)
	case history.KindOrchestrationStarted:
		return "detached orchestration " + e.Name + " [" + e.InstanceID + "] started"
	case history.KindFutureCancelled:
		return p.ref(inst, e.Ref, "future") + " cancelled"
	case history.KindCustomStatusSet:
		if e.Cleared {
			return "custom status cleared"
		}
		return "custom status: " + short(e.Result)
	case history.KindCancelRequested:
		return "cancellation requested: " + shortText(e.Input)
	case history.KindExecutionCompleted:
		return "completed: " + short(e.Result)
	case history.KindExecutionFailed:
		return "failed: " + failure(e.Failure)
	case history.KindExecutionContinuedAsNew:
		return "continued as new with input " + short(e.Input)
	case history.KindExecutionCancelled:
		return "cancelled: " + shortText(e.Input)
	}
	return ""
}

// maxShort is the most characters of a payload shown in a progress line.
const maxShort = 72

// short renders a JSON payload on one short line.
func short(b []byte) string {
	if len(b) == 0 {
		return "null"
	}
	return shortText(b)
}

// shortText renders bytes on one line of at most maxShort characters.
func shortText(b []byte) string {
	s := strings.Join(strings.Fields(string(b)), " ")
	if !utf8.ValidString(s) {
		return fmt.Sprintf("(%d bytes)", len(b))
	}
	if utf8.RuneCountInString(s) > maxShort {
		r := []rune(s)
		s = string(r[:maxShort-1]) + "…"
	}
	return s
}

// failure renders a failure as "message (kind, code)".
func failure(f *abi.Failure) string {
	if f == nil {
		return "(no details)"
	}
	s := strings.Join(strings.Fields(f.Message), " ")
	if f.Code != "" {
		return fmt.Sprintf("%s (%s, code %s)", s, f.Kind, f.Code)
	}
	return fmt.Sprintf("%s (%s)", s, f.Kind)
}

// logHandler prints the guests' replay-safe logs and the host's warnings as progress lines.
type logHandler struct {
	p     *progress
	attrs []slog.Attr
}

// Enabled shows guest logs from Info and host logs from Warn.
func (h *logHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelInfo }

// Handle prints one record.
func (h *logHandler) Handle(_ context.Context, r slog.Record) error {
	var inst, source string
	var kv []string
	attrs := append([]slog.Attr(nil), h.attrs...)
	r.Attrs(func(a slog.Attr) bool { attrs = append(attrs, a); return true })
	for _, a := range attrs {
		switch a.Key {
		case "instance":
			inst = a.Value.String()
		case "source":
			source = a.Value.String()
		case "execution":
		default:
			kv = append(kv, a.Key+"="+shortText([]byte(a.Value.String())))
		}
	}
	if source != "guest" && r.Level < slog.LevelWarn {
		return nil
	}
	what := "log"
	if source != "guest" {
		what = "host"
	}
	msg := strings.TrimPrefix(r.Message, "msg=")
	if len(kv) > 0 {
		msg += " " + strings.Join(kv, " ")
	}
	h.p.mu.Lock()
	defer h.p.mu.Unlock()
	h.p.printf(inst, "%s %s: %s", what, strings.ToLower(r.Level.String()), msg)
	return nil
}

// WithAttrs returns a handler that adds attrs to every record.
func (h *logHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &logHandler{p: h.p, attrs: append(append([]slog.Attr(nil), h.attrs...), attrs...)}
}

// WithGroup is not used by the host; groups are flattened.
func (h *logHandler) WithGroup(string) slog.Handler { return h }

// shellWord quotes s for a shell command line when it holds anything but letters, digits
// and -_.:/@ (single quotes, with embedded ones escaped).
func shellWord(s string) string {
	plain := s != ""
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("-_.:/@", c)) {
			plain = false
			break
		}
	}
	if plain {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
