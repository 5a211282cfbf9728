// Package scaleout tests several durohost hosts sharing one PostgreSQL store, as separate
// processes, through the loss of one of them (see TestNodeLoss). Its command hostproc is one
// such host; this package defines what a host process writes about its work (Record), and
// its tests read it.
package scaleout

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"sync"
)

// RecordKind says what a Record tells.
type RecordKind string

// The kinds of records.
const (
	// RecordReady: the host has loaded the module and started its dispatchers.
	RecordReady RecordKind = "ready"
	// RecordTurn: the host committed a turn of Instance, appending the history events First
	// to Last (their kinds in Kinds).
	RecordTurn RecordKind = "turn"
	// RecordStart: an activity of Instance started (Activity, Input, Attempt), the run Run.
	RecordStart RecordKind = "start"
	// RecordDone: an activity of Instance returned Output (its completion is committed
	// afterwards: a host may die between the two).
	RecordDone RecordKind = "done"
	// RecordLost: an activity of Instance stopped because its context ended (its lock was
	// lost, or the host is stopping).
	RecordLost RecordKind = "lost"
)

// Record is one line of a host process's standard output, a JSON object. Times are the host's
// wall clock in Unix nanoseconds: the processes of a test share a machine, so their times
// compare.
type Record struct {
	Kind     RecordKind      `json:"kind"`
	Time     int64           `json:"t"`
	Instance string          `json:"id,omitempty"`
	Activity string          `json:"activity,omitempty"`
	Input    json.RawMessage `json:"input,omitempty"`
	Output   json.RawMessage `json:"output,omitempty"`
	Attempt  int             `json:"attempt,omitempty"`
	Run      string          `json:"run,omitempty"`
	First    int64           `json:"first,omitempty"`
	Last     int64           `json:"last,omitempty"`
	Kinds    []string        `json:"kinds,omitempty"`
}

// Result is what the activities of a host process return: a value, the name of the host that
// ran the activity and the run, unique among the host's runs, so that a history tells whose
// completion it recorded.
type Result struct {
	Value string `json:"v"`
	Host  string `json:"host"`
	Run   string `json:"run"`
}

// Recorder writes records to a writer, one line per Write call, so that a process killed at
// any moment leaves only whole lines in a file. Safe for concurrent use.
type Recorder struct {
	mu sync.Mutex
	w  io.Writer
}

// NewRecorder returns a recorder writing to w.
func NewRecorder(w io.Writer) *Recorder { return &Recorder{w: w} }

// Write writes r as one line.
func (rec *Recorder) Write(r Record) error {
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("record: %w", err)
	}
	b = append(b, '\n')
	rec.mu.Lock()
	defer rec.mu.Unlock()
	_, err = rec.w.Write(b)
	return err
}

// ReadRecords parses the records of a host's output. A last line without its newline (a
// write cut short) is ignored; any other line that is not a record is an error naming it.
func ReadRecords(r io.Reader) ([]Record, error) {
	br := bufio.NewReader(r)
	var out []Record
	for n := 1; ; n++ {
		line, err := br.ReadBytes('\n')
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		var rec Record
		if err := json.Unmarshal(line, &rec); err != nil {
			return nil, fmt.Errorf("line %d %q is not a record: %w", n, line, err)
		}
		out = append(out, rec)
	}
}
