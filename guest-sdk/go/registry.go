package durable

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/durohost/durohost/abi"
)

// Orchestration is the code of an orchestration. It receives the execution's Context and its
// input, and returns its output or an error:
//
//   - a nil error completes the execution with the output;
//   - the error of Context.ContinueAsNew (possibly wrapped) continues it as new;
//   - an *Error (possibly wrapped) fails it with that error's kind, code and details;
//   - any other error fails it with an application failure carrying err.Error().
//
// A panic fails the execution with an application failure of code CodePanic.
type Orchestration func(ctx *Context, input []byte) ([]byte, error)

// RegisterOption configures Register and RegisterFunc.
type RegisterOption func(*registration)

// AsVersion registers the orchestration as a version:
// durable.RegisterFunc("report", reportV2, durable.AsVersion("2")). A module may register
// several versions of one name. A request naming a version (WithOrchestrationVersion, the
// host's option of the same name) runs exactly that version; a request with an empty version
// runs the highest one, comparing dot-separated segments numerically when both are decimal
// numbers and lexically otherwise ("1.10" > "1.9" > "1" > "").
func AsVersion(version string) RegisterOption {
	return func(r *registration) { r.version = version }
}

// WithVersion is the former name of AsVersion.
//
// Deprecated: use AsVersion; WithVersion read like the host's option that starts a version
// (now WithOrchestrationVersion in both packages). It is removed in the next release.
func WithVersion(version string) RegisterOption { return AsVersion(version) }

// Register registers fn under name in the module. Call it from init(): the host describes the
// module (and later runs it) without calling main. Register panics when name is empty, fn is
// nil, or the name and version are already registered.
func Register(name string, fn Orchestration, opts ...RegisterOption) {
	registrations.add(name, fn, opts)
}

// RegisterFunc registers a typed orchestration: its input is decoded from JSON (an empty
// input decodes to the zero In) and its output encoded to JSON. A non-nil error discards the
// output. See Register.
func RegisterFunc[In, Out any](name string, fn func(ctx *Context, input In) (Out, error), opts ...RegisterOption) {
	Register(name, typedOrchestration(name, fn), opts...)
}

// typedOrchestration wraps a typed function as an Orchestration using JSON.
func typedOrchestration[In, Out any](name string, fn func(*Context, In) (Out, error)) Orchestration {
	if fn == nil {
		panic("durable: RegisterFunc " + name + " with a nil function")
	}
	return func(ctx *Context, input []byte) ([]byte, error) {
		var in In
		if len(input) > 0 {
			if err := json.Unmarshal(input, &in); err != nil {
				return nil, &Error{Kind: abi.FailureApplication, Code: CodeBadPayload,
					Message: fmt.Sprintf("decode input of %s as %T: %v", name, in, err)}
			}
		}
		out, err := fn(ctx, in)
		if err != nil {
			return nil, err
		}
		b, err := json.Marshal(out)
		if err != nil {
			return nil, &Error{Kind: abi.FailureApplication, Code: CodeBadPayload,
				Message: fmt.Sprintf("encode output of %s: %v", name, err)}
		}
		return b, nil
	}
}

// registrations is the module's registry, filled by Register from init functions.
var registrations = newRegistry()

type registration struct {
	name    string
	version string
	fn      Orchestration
}

// registry maps names to their registered versions.
type registry struct {
	byName map[string][]*registration
}

func newRegistry() *registry { return &registry{byName: map[string][]*registration{}} }

func (r *registry) add(name string, fn Orchestration, opts []RegisterOption) {
	if name == "" {
		panic("durable: Register with an empty name")
	}
	if fn == nil {
		panic("durable: Register " + name + " with a nil function")
	}
	reg := &registration{name: name, fn: fn}
	for _, o := range opts {
		o(reg)
	}
	for _, other := range r.byName[name] {
		if other.version == reg.version {
			panic(fmt.Sprintf("durable: orchestration %s registered twice", describe(name, reg.version)))
		}
	}
	r.byName[name] = append(r.byName[name], reg)
}

// lookup finds the registration a StartInfo asks for: the exact version, or the highest
// version when version is empty.
func (r *registry) lookup(name, version string) (*registration, bool) {
	var best *registration
	for _, reg := range r.byName[name] {
		if version != "" {
			if reg.version == version {
				return reg, true
			}
			continue
		}
		if best == nil || compareVersions(reg.version, best.version) > 0 {
			best = reg
		}
	}
	return best, best != nil
}

// list returns every registration sorted by name, then version.
func (r *registry) list() []abi.Registration {
	var out []abi.Registration
	for name, regs := range r.byName {
		for _, reg := range regs {
			out = append(out, abi.Registration{Name: name, Version: reg.version})
		}
	}
	slices.SortFunc(out, func(a, b abi.Registration) int {
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		return compareVersions(a.Version, b.Version)
	})
	return out
}

// describe names a registration for messages: "name" or "name@version".
func describe(name, version string) string {
	if version == "" {
		return name
	}
	return name + "@" + version
}

// compareVersions compares dot-separated versions segment by segment: two decimal segments
// numerically, anything else lexically; when one version is a prefix of the other the longer
// one is higher. It returns -1, 0 or +1.
func compareVersions(a, b string) int {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(as) && i < len(bs); i++ {
		if c := compareSegments(as[i], bs[i]); c != 0 {
			return c
		}
	}
	switch {
	case len(as) < len(bs):
		return -1
	case len(as) > len(bs):
		return 1
	}
	return 0
}

func compareSegments(a, b string) int {
	if isDecimal(a) && isDecimal(b) {
		// Compare without parsing, so that segments of any length work.
		a, b = strings.TrimLeft(a, "0"), strings.TrimLeft(b, "0")
		if len(a) != len(b) {
			if len(a) < len(b) {
				return -1
			}
			return 1
		}
	}
	return strings.Compare(a, b)
}

func isDecimal(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
