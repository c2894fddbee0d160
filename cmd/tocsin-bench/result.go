package main

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"text/tabwriter"
	"time"
)

// result is what a run measured: named figures, in the order the table
// shows them, and the problems that make the run fail.
type result struct {
	mode     string
	figures  []figure
	problems []string
}

// figure is one measured value.
type figure struct {
	name  string // snake_case, the JSON key
	value float64
	unit  string // for the table: "alerts/s", "ms", "KiB", ...
}

// add appends a figure.
func (r *result) add(name string, value float64, unit string) {
	r.figures = append(r.figures, figure{name: name, value: value, unit: unit})
}

// problem records what makes the run fail, such as a lost notification.
func (r *result) problem(format string, args ...any) {
	r.problems = append(r.problems, fmt.Sprintf(format, args...))
}

// print writes the result as a table, or as one line of JSON: an object of
// the mode, each figure by name, and the problems.
func (r *result) print(w io.Writer, asJSON bool) error {
	if asJSON {
		obj := make(map[string]any, len(r.figures)+2)
		obj["mode"] = r.mode
		for _, f := range r.figures {
			obj[f.name] = f.value
		}
		obj["problems"] = append([]string{}, r.problems...)
		b, err := json.Marshal(obj)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "%s\t\t\n", r.mode)
	for _, f := range r.figures {
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", f.name, formatValue(f.value), f.unit)
	}
	for _, p := range r.problems {
		fmt.Fprintf(tw, "  PROBLEM\t%s\t\n", p)
	}
	return tw.Flush()
}

// formatValue writes a figure with the precision it deserves.
func formatValue(v float64) string {
	switch {
	case v == float64(int64(v)):
		return strconv.FormatInt(int64(v), 10)
	case v >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v >= 1:
		return strconv.FormatFloat(v, 'f', 2, 64)
	default:
		return strconv.FormatFloat(v, 'f', 3, 64)
	}
}

// latencies collects durations; each goroutine keeps its own and they are
// merged at the end, so that recording takes no lock.
type latencies []time.Duration

// addTo adds the p50, p99, p99.9 and maximum of the merged samples, in
// milliseconds, as prefix_p50_ms and so on.
func addTo(r *result, prefix string, sets ...latencies) {
	var all []time.Duration
	for _, s := range sets {
		all = append(all, s...)
	}
	slices.Sort(all)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	at := func(q float64) time.Duration {
		if len(all) == 0 {
			return 0
		}
		return all[min(len(all)-1, int(q*float64(len(all))))]
	}
	r.add(prefix+"_p50_ms", ms(at(0.50)), "ms")
	r.add(prefix+"_p99_ms", ms(at(0.99)), "ms")
	r.add(prefix+"_p999_ms", ms(at(0.999)), "ms")
	var highest time.Duration
	if len(all) > 0 {
		highest = all[len(all)-1]
	}
	r.add(prefix+"_max_ms", ms(highest), "ms")
}
