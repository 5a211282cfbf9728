package scenarios

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/durohost/durohost/history"
)

// A projection is the part of a history event that does not depend on timing: its kind and
// key fields, as one line such as
//
//	activity_scheduled greet input="World"
//	activity_completed @1 result="Hello, World!"
//	timer_created delay=10ms
//
// Times, event IDs and turn_started events are left out: they depend on when messages
// arrived and how they were batched into turns. A reference to a decision (ref) is written
// @k: the k-th decision of the execution. Derived child instance IDs are written "derived".
// Payloads longer than 256 bytes are written as their size ("<1048578-bytes>").

// Field order of a projection line.
var projectionKeys = []string{"ref", "version", "instance", "parent", "input", "result", "failure", "delay", "status", "carried", "cleared", "reason"}

// projection is one projected event.
type projection struct {
	kind   history.Kind
	name   string
	fields map[string]string
}

func (p projection) String() string {
	var b strings.Builder
	b.WriteString(p.kind.String())
	if p.name != "" {
		b.WriteString(" " + p.name)
	}
	for _, k := range projectionKeys {
		v, ok := p.fields[k]
		switch {
		case !ok:
		case k == "ref":
			b.WriteString(" " + v)
		case k == "cleared":
			b.WriteString(" cleared")
		default:
			b.WriteString(" " + k + "=" + v)
		}
	}
	return b.String()
}

// projectExecution projects the events of one execution of instance id.
func projectExecution(id string, execution uint32, events []history.Event) []projection {
	ordinal := map[int64]int{}
	n := 0
	for _, ev := range events {
		if ev.Kind.IsDecision() {
			n++
			ordinal[ev.ID] = n
		}
	}
	derived := fmt.Sprintf("%s:%d:", id, execution)
	var out []projection
	for _, ev := range events {
		if ev.Kind == history.KindTurnStarted {
			continue
		}
		p := projection{kind: ev.Kind, name: ev.Name, fields: map[string]string{}}
		set := func(k string, b []byte) {
			if len(b) > 0 {
				p.fields[k] = payloadText(b)
			}
		}
		if ev.Ref != 0 {
			if k, ok := ordinal[ev.Ref]; ok {
				p.fields["ref"] = fmt.Sprintf("@%d", k)
			} else {
				p.fields["ref"] = fmt.Sprintf("@?%d", ev.Ref)
			}
		}
		if ev.Version != "" {
			p.fields["version"] = ev.Version
		}
		if ev.InstanceID != "" {
			p.fields["instance"] = ev.InstanceID
			if strings.HasPrefix(ev.InstanceID, derived) {
				p.fields["instance"] = "derived"
			}
		}
		if ev.ParentID != "" {
			p.fields["parent"] = ev.ParentID
			if strings.Contains(ev.ParentID, ":") {
				p.fields["parent"] = "derived"
			}
		}
		switch ev.Kind {
		case history.KindCancelRequested, history.KindExecutionCancelled:
			set("reason", ev.Input)
		default:
			set("input", ev.Input)
		}
		if ev.Kind == history.KindCustomStatusSet {
			switch {
			case ev.Cleared:
				p.fields["cleared"] = ""
			case len(ev.Result) == 0:
				p.fields["status"] = `""`
			default:
				set("status", ev.Result)
			}
		} else {
			set("result", ev.Result)
		}
		if ev.Failure != nil {
			p.fields["failure"] = ev.Failure.Kind.String() + "/" + ev.Failure.Code
		}
		if ev.Kind == history.KindTimerCreated {
			p.fields["delay"] = time.Duration(ev.FireAt - ev.Time).String()
		}
		set("status", ev.CustomStatus)
		if len(ev.Carried) > 0 {
			items := make([]string, len(ev.Carried))
			for i, it := range ev.Carried {
				items[i] = it.Name + ":" + payloadText(it.Data)
			}
			p.fields["carried"] = "[" + strings.Join(items, ",") + "]"
		}
		out = append(out, p)
	}
	return out
}

// payloadText shows a payload: compact JSON when it is JSON, a quoted string otherwise, its
// size when it is long.
func payloadText(b []byte) string {
	if len(b) > 256 {
		return fmt.Sprintf("<%d-bytes>", len(b))
	}
	if c, ok := canonicalJSON(b); ok {
		return c
	}
	return fmt.Sprintf("%q", b)
}

// pattern is one expected event: the kind, optionally the name, and the fields to check.
type pattern struct {
	text   string
	kind   history.Kind
	name   string
	fields map[string]string
}

// patternItem is a pattern, or a group of patterns matching in any order.
type patternItem struct {
	one   *pattern
	group []pattern
}

// parsePatterns parses pattern lines. A line is "kind [name] [@k] [key=value]...", where a
// value is a JSON value (strings quoted) or a bare word; "{" and "}" lines enclose a group
// whose events may come in any order (they must be contiguous).
func parsePatterns(lines []string) ([]patternItem, error) {
	var items []patternItem
	var group []pattern
	in := false
	for _, l := range lines {
		switch strings.TrimSpace(l) {
		case "{":
			if in {
				return nil, fmt.Errorf("nested group")
			}
			in, group = true, nil
			continue
		case "}":
			if !in {
				return nil, fmt.Errorf("unbalanced }")
			}
			in = false
			items = append(items, patternItem{group: group})
			continue
		}
		p, err := parsePattern(l)
		if err != nil {
			return nil, err
		}
		if in {
			group = append(group, p)
		} else {
			items = append(items, patternItem{one: &p})
		}
	}
	if in {
		return nil, fmt.Errorf("unclosed group")
	}
	return items, nil
}

func parsePattern(line string) (pattern, error) {
	p := pattern{text: line, fields: map[string]string{}}
	toks, err := tokens(line)
	if err != nil || len(toks) == 0 {
		return p, fmt.Errorf("pattern %q: %v", line, err)
	}
	k, ok := history.ParseKind(toks[0])
	if !ok {
		return p, fmt.Errorf("pattern %q: unknown kind %q", line, toks[0])
	}
	p.kind = k
	for _, t := range toks[1:] {
		switch key, val, hasEq := strings.Cut(t, "="); {
		case strings.HasPrefix(t, "@"):
			p.fields["ref"] = t
		case t == "cleared":
			p.fields["cleared"] = ""
		case hasEq:
			if !slices.Contains(projectionKeys, key) {
				return p, fmt.Errorf("pattern %q: unknown key %q", line, key)
			}
			if key != "delay" && key != "failure" && key != "carried" && json.Valid([]byte(val)) {
				val = payloadText([]byte(val))
			}
			p.fields[key] = val
		default:
			p.name = t
		}
	}
	return p, nil
}

// tokens splits a pattern line on spaces, keeping JSON strings, objects and arrays whole.
func tokens(s string) ([]string, error) {
	var out []string
	i := 0
	for i < len(s) {
		if s[i] == ' ' {
			i++
			continue
		}
		start := i
		depth, inStr := 0, false
		for i < len(s) {
			c := s[i]
			switch {
			case inStr && c == '\\':
				i++
			case c == '"':
				inStr = !inStr
			case !inStr && (c == '{' || c == '['):
				depth++
			case !inStr && (c == '}' || c == ']'):
				depth--
			case !inStr && depth == 0 && c == ' ':
				goto done
			}
			i++
		}
	done:
		if inStr || depth != 0 {
			return nil, fmt.Errorf("unbalanced quotes or brackets")
		}
		out = append(out, s[start:i])
	}
	return out, nil
}

func (p *pattern) matches(e projection) bool {
	if p.kind != e.kind || (p.name != "" && p.name != e.name) {
		return false
	}
	for k, v := range p.fields {
		if got, ok := e.fields[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// matchHistory checks projections against patterns and describes the first difference.
func matchHistory(items []patternItem, got []projection) error {
	i := 0
	for n, it := range items {
		if it.one != nil {
			if i >= len(got) {
				return fmt.Errorf("pattern %d %q: history ended", n+1, it.one.text)
			}
			if !it.one.matches(got[i]) {
				return fmt.Errorf("pattern %d %q does not match event %d %q", n+1, it.one.text, i+1, got[i])
			}
			i++
			continue
		}
		k := len(it.group)
		if i+k > len(got) {
			return fmt.Errorf("group at pattern %d: history ended", n+1)
		}
		if !matchAnyOrder(it.group, got[i:i+k], make([]bool, k)) {
			return fmt.Errorf("group at pattern %d (%d events in any order) does not match events %d..%d", n+1, k, i+1, i+k)
		}
		i += k
	}
	if i < len(got) {
		return fmt.Errorf("unexpected event %d %q after the last pattern", i+1, got[i])
	}
	return nil
}

// matchAnyOrder finds a one-to-one assignment of patterns to events.
func matchAnyOrder(ps []pattern, evs []projection, used []bool) bool {
	if len(ps) == 0 {
		return true
	}
	for j, e := range evs {
		if !used[j] && ps[0].matches(e) {
			used[j] = true
			if matchAnyOrder(ps[1:], evs, used) {
				return true
			}
			used[j] = false
		}
	}
	return false
}

func lines(ps []projection) string {
	var b strings.Builder
	for i, p := range ps {
		fmt.Fprintf(&b, "  %3d %s\n", i+1, p)
	}
	return b.String()
}

// compareRuns compares the projected histories of two runs of a scenario: per instance, the
// decisions must be the same sequence and the inputs the same multiset (inputs may arrive in
// other turns, and parallel completions in another order).
func compareRuns(a, b map[string][]projection) []string {
	var diffs []string
	keys := map[string]bool{}
	for k := range a {
		keys[k] = true
	}
	for k := range b {
		keys[k] = true
	}
	sorted := make([]string, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	slices.Sort(sorted)
	for _, k := range sorted {
		x, okx := a[k]
		y, oky := b[k]
		if !okx || !oky {
			diffs = append(diffs, fmt.Sprintf("instance %s exists in one run only", k))
			continue
		}
		dx, ix := split(x)
		dy, iy := split(y)
		if !slices.Equal(dx, dy) {
			diffs = append(diffs, fmt.Sprintf("instance %s: decisions differ:\n%s\nvs\n%s", k, strings.Join(dx, "\n"), strings.Join(dy, "\n")))
		}
		slices.Sort(ix)
		slices.Sort(iy)
		if !slices.Equal(ix, iy) {
			diffs = append(diffs, fmt.Sprintf("instance %s: inputs differ:\n%s\nvs\n%s", k, strings.Join(ix, "\n"), strings.Join(iy, "\n")))
		}
	}
	return diffs
}

func split(ps []projection) (decisions, inputs []string) {
	for _, p := range ps {
		if p.kind.IsDecision() {
			decisions = append(decisions, p.String())
		} else {
			inputs = append(inputs, p.String())
		}
	}
	return decisions, inputs
}

// canonicalJSON re-encodes a JSON value compactly with object keys sorted, so that values
// compare equal whatever the key order a guest's JSON encoder chose.
func canonicalJSON(b []byte) (string, bool) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil || d.More() {
		return "", false
	}
	out, err := json.Marshal(v)
	if err != nil {
		return "", false
	}
	return string(out), true
}
