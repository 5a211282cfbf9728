package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/durohost/durohost/host"
)

// The limits of a host (host.Limits) come from flags of the commands that build one (run,
// serve, worker, replay) and, for serve, from the "limits" object of its config file, whose
// keys are the flags' names with '_' for '-' ("turn_time"); a flag overrides the file. Unset,
// a limit takes the host's default. host.New normalises and validates them; its error is
// reported with the flags (or config keys) of the limits it names.

// limitKind is how a limit is written.
type limitKind uint8

const (
	// durationLimit is a Go duration: "10s", "1m30s".
	durationLimit limitKind = iota
	// sizeLimit is a size in bytes: "1048576", or a whole number with a binary unit: "64KiB",
	// "4MiB", "2GiB", "1TiB" (the unit's case does not matter).
	sizeLimit
	// pagesLimit is a size (as sizeLimit) that is a whole number of 64 KiB pages.
	pagesLimit
	// countLimit is a whole number.
	countLimit
)

// limitFlag is the flag of one field of host.Limits.
type limitFlag struct {
	name  string // the flag's name; the config key is name with '_' for '-'
	kind  limitKind
	usage string
	// field returns a pointer to the field: *time.Duration, *int64, *int or *uint32 (pages).
	field func(*host.Limits) any
	// phrases are how host.New's errors name the field.
	phrases []string
	// def describes the default when it is not a plain value.
	def string
}

// limitFlags lists every field of host.Limits (a test checks that none is missing).
var limitFlags = []limitFlag{
	{name: "turn-time", kind: durationLimit, phrases: []string{"turn time"},
		usage: "`DURATION` a guest may run in one turn, after the replay of its history: CPU time where measured (Linux), else wall time; a guest that exceeds it fails",
		field: func(l *host.Limits) any { return &l.TurnTime }},
	{name: "turn-wall-time", kind: durationLimit, phrases: []string{"turn wall time"}, def: "the larger of 30s and 3 × --turn-time",
		usage: "wall-clock `DURATION` of one turn where --turn-time is CPU time: a turn that reaches it waited for a busy host and is retried, never failed",
		field: func(l *host.Limits) any { return &l.TurnWallTime }},
	{name: "replay-time", kind: durationLimit, phrases: []string{"replay time"},
		usage: "`DURATION` to instantiate a guest and replay its history in a cold turn; an overrun is retried later, never the instance's failure",
		field: func(l *host.Limits) any { return &l.ReplayTime }},
	{name: "instantiate-time", kind: durationLimit, phrases: []string{"instantiate time"},
		usage: "`DURATION` a module's initialisation may take (when it is loaded, and for an instance that cannot start from a snapshot)",
		field: func(l *host.Limits) any { return &l.InstantiateTime }},
	{name: "compile-time", kind: durationLimit, phrases: []string{"compile time"},
		usage: "`DURATION` the compilation of one module may take",
		field: func(l *host.Limits) any { return &l.CompileTime }},
	{name: "compile-concurrency", kind: countLimit, phrases: []string{"compile concurrency"},
		usage: "modules compiled at once, `N` (others wait their turn)",
		field: func(l *host.Limits) any { return &l.CompileConcurrency }},
	{name: "memory-limit", kind: pagesLimit, phrases: []string{"pages"},
		usage: "linear memory of each guest, a `SIZE` in whole 64KiB pages (at most 4GiB)",
		field: func(l *host.Limits) any { return &l.MemoryPages }},
	{name: "guest-memory", kind: sizeLimit, phrases: []string{"guest memory"},
		usage: "linear memory of all guests together, running and parked, a `SIZE`: turns wait for memory rather than exceed it",
		field: func(l *host.Limits) any { return &l.GuestMemory }},
	{name: "max-payload", kind: sizeLimit, phrases: []string{"max payload"},
		usage: "largest payload crossing the ABI (an input, a result, an event), a `SIZE`; serve refuses larger ones in requests",
		field: func(l *host.Limits) any { return &l.MaxPayload }},
	{name: "max-history", kind: countLimit, phrases: []string{"max events"},
		usage: "events of one execution's history, `N`",
		field: func(l *host.Limits) any { return &l.MaxEvents }},
	{name: "max-module-size", kind: sizeLimit, phrases: []string{"module size"},
		usage: "largest module, a `SIZE` (serve: the largest upload)",
		field: func(l *host.Limits) any { return &l.MaxModuleSize }},
	{name: "max-registrations", kind: countLimit, phrases: []string{"max registrations"},
		usage: "orchestrations one module may register, `N`",
		field: func(l *host.Limits) any { return &l.MaxRegistrations }},
	{name: "module-cache", kind: sizeLimit, phrases: []string{"module cache"},
		usage: "memory of the compiled modules, images and snapshots kept for modules nothing uses at the moment, a `SIZE`",
		field: func(l *host.Limits) any { return &l.ModuleCache }},
	{name: "disk-cache", kind: sizeLimit, phrases: []string{"disk cache"},
		usage: "compiled modules kept on disk, a `SIZE`",
		field: func(l *host.Limits) any { return &l.DiskCache }},
}

// limitsCategory groups the limit flags in --help.
const limitsCategory = "Limits (SIZE: bytes, or a whole number with KiB, MiB, GiB or TiB: 64MiB)"

// limitCLIFlags are the flags of limitFlags, with the host's defaults in --help.
func limitCLIFlags() []cli.Flag {
	var out []cli.Flag
	for _, f := range limitFlags {
		def := f.def
		if def == "" {
			d := host.DefaultLimits
			def = f.format(f.field(&d))
		}
		out = append(out, &cli.StringFlag{Name: f.name, Usage: f.usage, DefaultText: def, Category: limitsCategory})
	}
	return out
}

// configKey is the key of the limit in a config file's "limits" object.
func (f limitFlag) configKey() string { return strings.ReplaceAll(f.name, "-", "_") }

// format writes the value of a field as the flag takes it.
func (f limitFlag) format(field any) string {
	switch v := field.(type) {
	case *time.Duration:
		return v.String()
	case *int64:
		return formatSize(*v)
	case *uint32:
		return formatSize(int64(*v) * pageSize)
	case *int:
		if f.kind == sizeLimit {
			return formatSize(int64(*v))
		}
		return strconv.Itoa(*v)
	}
	panic(fmt.Sprintf("limit %s: field of type %T", f.name, field))
}

// set parses s into the field of l.
func (f limitFlag) set(l *host.Limits, s string) error {
	s = strings.TrimSpace(s)
	switch p := f.field(l).(type) {
	case *time.Duration:
		d, err := time.ParseDuration(s)
		if err != nil {
			return errors.New("want a duration such as 10s, 1m30s or 500ms")
		}
		*p = d
	case *int64:
		n, err := parseSize(s)
		if err != nil {
			return err
		}
		*p = n
	case *uint32:
		n, err := parseSize(s)
		if err != nil {
			return err
		}
		if n%pageSize != 0 {
			return fmt.Errorf("%s is not a whole number of 64KiB pages", formatSize(n))
		}
		if n/pageSize > math.MaxUint32 {
			return fmt.Errorf("%s is more than the 4GiB a guest may address", formatSize(n))
		}
		*p = uint32(n / pageSize)
	case *int:
		if f.kind == countLimit {
			n, err := strconv.Atoi(s)
			if err != nil {
				return errors.New("want a whole number")
			}
			*p = n
			return nil
		}
		n, err := parseSize(s)
		if err != nil {
			return err
		}
		if n > math.MaxInt {
			return fmt.Errorf("%s is too large", s)
		}
		*p = int(n)
	}
	return nil
}

// pageSize is the size of a WebAssembly memory page.
const pageSize = 64 << 10

// sizeUnits are the units of a size, largest first.
var sizeUnits = []struct {
	name  string
	bytes int64
}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}}

// parseSize reads a size: a number of bytes ("1048576"), or a whole number with a binary
// unit, KiB, MiB, GiB or TiB ("64MiB"; the unit's case does not matter).
func parseSize(s string) (int64, error) {
	bad := fmt.Errorf("size %q: want bytes, or a whole number with KiB, MiB, GiB or TiB (binary units): 64MiB", s)
	digits, mult := s, int64(1)
	for _, u := range sizeUnits {
		if len(s) > len(u.name) && strings.EqualFold(s[len(s)-len(u.name):], u.name) {
			digits, mult = s[:len(s)-len(u.name)], u.bytes
			break
		}
	}
	if digits == "" || strings.TrimLeft(digits, "0123456789") != "" {
		return 0, bad
	}
	n, err := strconv.ParseInt(digits, 10, 64)
	if err != nil || n > math.MaxInt64/mult {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	return n * mult, nil
}

// formatSize writes n bytes in the largest unit that divides it ("4MiB"), or in bytes.
func formatSize(n int64) string {
	for _, u := range sizeUnits {
		if n >= u.bytes && n%u.bytes == 0 {
			return strconv.FormatInt(n/u.bytes, 10) + u.name
		}
	}
	return strconv.FormatInt(n, 10)
}

// limitSources says where each limit that was given came from: "--turn-time", or
// "limits.turn_time in the config file".
type limitSources map[string]string

// readLimits returns the limits given by the flags of limitCLIFlags and, for the flags not
// set, by file (values by flag name, as the flags take them: see limitsOfConfig). Unset
// limits are zero: host.New gives them their defaults. An unparsable value is an error
// naming its flag or config key.
func readLimits(c *cli.Context, file map[string]string) (host.Limits, limitSources, error) {
	var l host.Limits
	src := limitSources{}
	for _, f := range limitFlags {
		var v, from string
		switch fv, inFile := file[f.name]; {
		case c.IsSet(f.name):
			v, from = c.String(f.name), "--"+f.name
		case inFile:
			v, from = fv, "limits."+f.configKey()+" in the config file"
		default:
			continue
		}
		if err := f.set(&l, v); err != nil {
			return l, nil, fmt.Errorf("%s %q: %v", from, v, err)
		}
		src[f.name] = from
	}
	return l, src, nil
}

// explain rewrites an error of host.New about its limits to name the flags (or config keys)
// of the limits it is about; other errors are returned as they are.
func (src limitSources) explain(err error) error {
	if err == nil || !strings.Contains(err.Error(), "limits:") {
		return err
	}
	var given, defaults []string // the limits given first
	for _, f := range limitFlags {
		for _, p := range f.phrases {
			if strings.Contains(err.Error(), p) {
				if name, ok := src[f.name]; ok {
					given = append(given, name)
				} else {
					defaults = append(defaults, "--"+f.name+" (default)")
				}
				break
			}
		}
	}
	names := append(given, defaults...)
	if len(names) == 0 {
		return err
	}
	return fmt.Errorf("%s: %w", strings.Join(names, " and "), err)
}

// limitsOfConfig reads the "limits" object of a config file: each key a limit flag's name
// with '_' for '-', each value a string as the flag takes it ("10s", "64MiB") or a number
// (bytes, or a count). It returns the values by flag name; unknown keys are errors.
func limitsOfConfig(raw map[string]json.RawMessage) (map[string]string, error) {
	out := map[string]string{}
	var keys []string
	for k := range raw {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		var f *limitFlag
		for i := range limitFlags {
			if limitFlags[i].configKey() == k {
				f = &limitFlags[i]
			}
		}
		if f == nil {
			var known []string
			for _, f := range limitFlags {
				known = append(known, f.configKey())
			}
			return nil, fmt.Errorf("limits.%s: unknown limit (known: %s)", k, strings.Join(known, ", "))
		}
		v, err := configValue(raw[k])
		if err != nil {
			return nil, fmt.Errorf("limits.%s: %v", k, err)
		}
		out[f.name] = v
		var l host.Limits
		if err := f.set(&l, out[f.name]); err != nil {
			return nil, fmt.Errorf("limits.%s %q: %v", k, out[f.name], err)
		}
	}
	return out, nil
}

// configValue returns a value of a config file as a flag would take it: a string's text, or
// a number's digits.
func configValue(raw json.RawMessage) (string, error) {
	var s string
	var n json.Number
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	if err := json.Unmarshal(raw, &n); err == nil {
		return n.String(), nil
	}
	return "", fmt.Errorf("want a string (\"10s\", \"64MiB\") or a number, not %s", raw)
}
