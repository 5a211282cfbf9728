package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// writeSummaries prints, after several runs, one line per workload (and host count): the
// median of each figure over the runs and its range, "key=median [min..max]" in text, or a
// JSON object with "summary": "median", "of_runs", the medians and "range": {"key": [min, max]}.
func writeSummaries(out io.Writer, cfg Config, results []result) error {
	type group struct {
		name, title string
		hosts       int
		runs        []result
	}
	var groups []*group
	for _, r := range results {
		i := slices.IndexFunc(groups, func(g *group) bool { return g.name == r.name && g.hosts == r.hosts })
		if i < 0 {
			groups = append(groups, &group{name: r.name, title: r.title, hosts: r.hosts})
			i = len(groups) - 1
		}
		groups[i].runs = append(groups[i].runs, r)
	}
	for _, g := range groups {
		var b strings.Builder
		title := fmt.Sprintf("median of %d runs [range]", len(g.runs))
		if g.hosts > 1 {
			title += fmt.Sprintf(", %d hosts", g.hosts)
		}
		if cfg.JSON {
			jname, _ := json.Marshal(g.name)
			fmt.Fprintf(&b, `{"workload":%s,"summary":"median","of_runs":%d`, jname, len(g.runs))
			if g.hosts > 0 {
				fmt.Fprintf(&b, `,"hosts":%d`, g.hosts)
			}
		} else {
			fmt.Fprintf(&b, "%-5s %-55s", g.name, title)
		}
		var ranges []string
		for _, m := range g.runs[0].ms {
			vals := make([]float64, 0, len(g.runs))
			for _, r := range g.runs {
				if v, ok := lookup(r.ms, m.key); ok {
					vals = append(vals, v)
				}
			}
			slices.Sort(vals)
			med := median(vals)
			f := func(v float64) string { return strconv.FormatFloat(v, 'f', m.prec, 64) }
			if cfg.JSON {
				fmt.Fprintf(&b, `,%q:%s`, m.key, f(med))
				ranges = append(ranges, fmt.Sprintf(`%q:[%s,%s]`, m.key, f(vals[0]), f(vals[len(vals)-1])))
			} else {
				fmt.Fprintf(&b, " %s=%s [%s..%s]", m.key, f(med), f(vals[0]), f(vals[len(vals)-1]))
			}
		}
		if cfg.JSON {
			fmt.Fprintf(&b, `,"range":{%s}}`, strings.Join(ranges, ","))
		}
		b.WriteByte('\n')
		if _, err := io.WriteString(out, b.String()); err != nil {
			return err
		}
	}
	return nil
}

// lookup returns the value of the metric key.
func lookup(ms []metric, key string) (float64, bool) {
	for _, m := range ms {
		if m.key == key {
			return m.value, true
		}
	}
	return 0, false
}

// median returns the median of sorted values (the mean of the middle two for an even count).
func median(sorted []float64) float64 {
	n := len(sorted)
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}
