package telemetry

import "sync"

// MaxNamesPerNamespace bounds the distinct values of a label that names something a
// namespace's guests choose (the orchestration and activity labels): the first
// MaxNamesPerNamespace names of a namespace get their own series, later ones share the
// series labelled OtherName. A guest may call an activity of any name (an unregistered one is
// still attempted and counted), and a tenant may upload modules exporting any number of
// orchestrations: without the bound, one namespace could grow the host's memory and every
// scrape without limit (see RATIONALE.md, "Why are metric labels of guest names bounded?").
const MaxNamesPerNamespace = 200

// OtherName is the label value of the names of a namespace past MaxNamesPerNamespace.
const OtherName = "_other"

// MaxNameLabel bounds, in bytes, the label value of a guest's name (names may be 1024
// bytes): a value is repeated on every line of its series at each scrape (a histogram's are
// 20), so long names would swell every scrape. A longer name is cut on a rune boundary and
// marked with "…"; names that share their first bytes then share a series.
const MaxNameLabel = 128

// nameLabels admits, per namespace, the first max distinct names as label values.
type nameLabels struct {
	max  int
	mu   sync.RWMutex
	seen map[string]map[string]struct{} // namespace → names admitted
}

func newNameLabels(max int) *nameLabels {
	return &nameLabels{max: max, seen: map[string]map[string]struct{}{}}
}

// value returns the label value of name in namespace ns: name (cut to MaxNameLabel bytes)
// when it was admitted or there is room for it, OtherName otherwise.
func (l *nameLabels) value(ns, name string) string {
	name = clipTo(name, MaxNameLabel)
	l.mu.RLock()
	names := l.seen[ns]
	_, ok := names[name]
	full := len(names) >= l.max
	l.mu.RUnlock()
	if ok {
		return name
	}
	if full {
		return OtherName
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	names = l.seen[ns]
	if names == nil {
		names = map[string]struct{}{}
		l.seen[ns] = names
	}
	if _, ok := names[name]; ok {
		return name
	}
	if len(names) >= l.max {
		return OtherName
	}
	names[name] = struct{}{}
	return name
}
