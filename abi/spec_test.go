package abi_test

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"go/ast"
	"go/constant"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"unicode"

	"github.com/durohost/durohost/abi"
)

// This file keeps ABI.md (normative) and the Go definitions of package abi in sync. Every
// check goes both ways: each table row must have a Go definition and each Go definition a
// row. When a check fails, change ABI.md and the code together.

// specTable is one pipe table of ABI.md with the heading it sits under.
type specTable struct {
	heading string
	header  []string
	rows    [][]string
	line    int
	sep     bool // the header's separator row was read
}

// spec is the parsed ABI.md.
type spec struct {
	title    string
	headings []string
	tables   []specTable
	text     string
}

func loadSpec(t *testing.T) *spec {
	t.Helper()
	data, err := os.ReadFile("ABI.md")
	if err != nil {
		t.Fatal(err)
	}
	s := &spec{text: string(data)}
	var heading string
	var cur *specTable
	for i, line := range strings.Split(s.text, "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "|") {
			cur = nil
			if h, ok := strings.CutPrefix(line, "# "); ok && s.title == "" {
				s.title = h
			} else if strings.HasPrefix(line, "##") {
				heading = strings.TrimSpace(strings.TrimLeft(line, "#"))
				s.headings = append(s.headings, heading)
			}
			continue
		}
		cells := splitRow(line)
		switch {
		case cur == nil:
			s.tables = append(s.tables, specTable{heading: heading, header: cells, line: i + 1})
			cur = &s.tables[len(s.tables)-1]
		case !cur.sep:
			if !isSeparator(cells) {
				t.Fatalf("ABI.md:%d: table header is not followed by a separator row", i+1)
			}
			cur.sep = true
		default:
			if len(cells) != len(cur.header) {
				t.Fatalf("ABI.md:%d: row has %d cells, header has %d", i+1, len(cells), len(cur.header))
			}
			cur.rows = append(cur.rows, cells)
		}
	}
	if len(s.tables) == 0 {
		t.Fatal("ABI.md: no tables found")
	}
	return s
}

func splitRow(line string) []string {
	line = strings.TrimSuffix(strings.TrimPrefix(line, "|"), "|")
	cells := strings.Split(line, "|")
	for i, c := range cells {
		cells[i] = strings.Trim(strings.TrimSpace(c), "`")
	}
	return cells
}

func isSeparator(cells []string) bool {
	for _, c := range cells {
		if strings.Trim(c, "-: ") != "" {
			return false
		}
	}
	return true
}

// table returns the only table under the heading named heading (ignoring a parenthesised
// suffix: "Command" names "Command (guest → host, `schedule`)") whose first header cell is
// first.
func (s *spec) table(t *testing.T, heading, first string) specTable {
	t.Helper()
	var found []specTable
	for _, tb := range s.tables {
		if (tb.heading == heading || strings.HasPrefix(tb.heading, heading+" (")) && tb.header[0] == first {
			found = append(found, tb)
		}
	}
	if len(found) != 1 {
		t.Fatalf("ABI.md: want one table %q under heading %q, found %d", first, heading, len(found))
	}
	if len(found[0].rows) == 0 {
		t.Fatalf("ABI.md:%d: table %q has no rows", found[0].line, first)
	}
	return found[0]
}

// column returns the values of column name, keyed by the first column, and fails on a
// repeated key.
func (tb specTable) column(t *testing.T, name string) map[string]string {
	t.Helper()
	col := slices.Index(tb.header, name)
	if col < 0 {
		t.Fatalf("ABI.md:%d: table %q has no column %q", tb.line, tb.header[0], name)
	}
	m := make(map[string]string, len(tb.rows))
	for _, r := range tb.rows {
		if _, dup := m[r[0]]; dup {
			t.Errorf("ABI.md:%d: table %q lists %q twice", tb.line, tb.header[0], r[0])
		}
		m[r[0]] = r[col]
	}
	return m
}

// compareSets reports the keys only one side has and the values that differ.
func compareSets[V comparable](t *testing.T, what string, doc, code map[string]V) {
	t.Helper()
	for _, k := range sortedKeys(doc) {
		cv, ok := code[k]
		switch {
		case !ok:
			t.Errorf("%s: ABI.md has %q, the Go code does not", what, k)
		case cv != doc[k]:
			t.Errorf("%s %q: ABI.md says %v, the Go code %v", what, k, doc[k], cv)
		}
	}
	for _, k := range sortedKeys(code) {
		if _, ok := doc[k]; !ok {
			t.Errorf("%s: the Go code has %q (%v), ABI.md does not", what, k, code[k])
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func atoi(t *testing.T, what, s string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatalf("ABI.md: %s: %q is not an integer", what, s)
	}
	return n
}

func atoiColumn(t *testing.T, tb specTable, col string) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for k, v := range tb.column(t, col) {
		out[k] = atoi(t, tb.header[0]+" "+k, v)
	}
	return out
}

// goConst is a package-level constant of package abi, read from the source.
type goConst struct {
	typ   string // declared type name, "" when untyped
	value constant.Value
}

// loadConsts parses the non-test Go files of the package and returns its constants. Only
// literal values (optionally negated) are evaluated; others have a nil value.
func loadConsts(t *testing.T) map[string]goConst {
	t.Helper()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	consts := map[string]goConst{}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, decl := range f.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok || gd.Tok != token.CONST {
				continue
			}
			for _, spec := range gd.Specs {
				vs := spec.(*ast.ValueSpec)
				var typ string
				if id, ok := vs.Type.(*ast.Ident); ok {
					typ = id.Name
				}
				for i, n := range vs.Names {
					var v constant.Value
					if i < len(vs.Values) {
						v = evalLiteral(vs.Values[i])
					}
					consts[n.Name] = goConst{typ: typ, value: v}
				}
			}
		}
	}
	return consts
}

func evalLiteral(e ast.Expr) constant.Value {
	switch e := e.(type) {
	case *ast.BasicLit:
		return constant.MakeFromLiteral(e.Value, e.Kind, 0)
	case *ast.UnaryExpr:
		if v := evalLiteral(e.X); v != nil {
			return constant.UnaryOp(e.Op, v, 0)
		}
	case *ast.ParenExpr:
		return evalLiteral(e.X)
	}
	return nil
}

// constsWith returns the constants whose name starts with prefix (and, when typ is not
// empty, are declared with that type), as name → value.
func constsWith(t *testing.T, consts map[string]goConst, prefix, typ string) map[string]constant.Value {
	t.Helper()
	out := map[string]constant.Value{}
	for name, c := range consts {
		if !strings.HasPrefix(name, prefix) || (typ != "" && c.typ != typ) {
			continue
		}
		if c.value == nil {
			t.Fatalf("constant %s: value is not a literal; extend spec_test.go", name)
		}
		out[name] = c.value
	}
	if len(out) == 0 {
		t.Fatalf("no constants %s* found", prefix)
	}
	return out
}

func constInt(t *testing.T, name string, v constant.Value) int64 {
	t.Helper()
	n, ok := constant.Int64Val(v)
	if !ok {
		t.Fatalf("constant %s is not an integer: %v", name, v)
	}
	return n
}

// snake converts a Go identifier to snake_case, keeping initialisms together:
// InstanceID → instance_id, ABIVersion → abi_version.
func snake(s string) string {
	r := []rune(s)
	var b strings.Builder
	for i, c := range r {
		if i > 0 && unicode.IsUpper(c) &&
			(unicode.IsLower(r[i-1]) || (i+1 < len(r) && unicode.IsLower(r[i+1]))) {
			b.WriteByte('_')
		}
		b.WriteRune(unicode.ToLower(c))
	}
	return b.String()
}

func TestSnake(t *testing.T) {
	tests := map[string]string{
		"InstanceID":   "instance_id",
		"ExecutionID":  "execution_id",
		"CustomStatus": "custom_status",
		"StartTime":    "start_time",
		"ABIVersion":   "abi_version",
		"Kind":         "kind",
		"NotReady":     "not_ready",
	}
	for in, want := range tests {
		if got := snake(in); got != want {
			t.Errorf("snake(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSpecVersion(t *testing.T) {
	s := loadSpec(t)
	m := regexp.MustCompile(`, version (\d+)$`).FindStringSubmatch(s.title)
	if m == nil {
		t.Fatalf("ABI.md: title %q does not end with the ABI version", s.title)
	}
	if got := atoi(t, "title", m[1]); got != abi.Version {
		t.Errorf("ABI.md title says version %d, abi.Version is %d", got, abi.Version)
	}
	if want := fmt.Sprintf("durohost_v%d", abi.Version); abi.ImportModule != want {
		t.Errorf("abi.ImportModule = %q, want %q (the version is part of the name)", abi.ImportModule, want)
	}
	want := fmt.Sprintf("`%s` must return `%d`", abi.ExportABIVersion, abi.Version)
	if !strings.Contains(s.text, want) {
		t.Errorf("ABI.md does not say %q", want)
	}
}

func TestSpecImportModules(t *testing.T) {
	s := loadSpec(t)
	tb := s.table(t, "Import module", "import module")
	doc := map[string]string{}
	for _, v := range tb.column(t, "value") {
		doc[v] = v
	}
	code := map[string]string{abi.ImportModule: abi.ImportModule, abi.WASIModule: abi.WASIModule}
	compareSets(t, "import module", doc, code)
}

func sigString(types []abi.ValueType) string {
	s := make([]string, len(types))
	for i, v := range types {
		s[i] = v.String()
	}
	return strings.Join(s, " ")
}

// checkSignatures compares a table of (name, params, results) with a list of signatures,
// including their order.
func checkSignatures(t *testing.T, what string, tb specTable, sigs []abi.Signature) {
	t.Helper()
	sig := func(params, results string) string { return "(" + params + ") -> (" + results + ")" }
	doc := map[string]string{}
	params, results := tb.column(t, "params"), tb.column(t, "results")
	for name := range params {
		doc[name] = sig(strings.Join(strings.Fields(params[name]), " "), strings.Join(strings.Fields(results[name]), " "))
	}
	code := map[string]string{}
	var codeOrder []string
	for _, s := range sigs {
		if _, dup := code[s.Name]; dup {
			t.Errorf("%s: the Go code lists %q twice", what, s.Name)
		}
		code[s.Name] = sig(sigString(s.Params), sigString(s.Results))
		codeOrder = append(codeOrder, s.Name)
	}
	compareSets(t, what, doc, code)
	var docOrder []string
	for _, r := range tb.rows {
		docOrder = append(docOrder, r[0])
	}
	if !t.Failed() && !slices.Equal(docOrder, codeOrder) {
		t.Errorf("%s: ABI.md order %v, Go order %v", what, docOrder, codeOrder)
	}
}

func TestSpecHostFunctions(t *testing.T) {
	s := loadSpec(t)
	tb := s.table(t, "Host functions", "function")
	checkSignatures(t, "host function", tb, abi.HostFunctions)

	// Every Func* constant is a documented host function, and each has its own section.
	doc := map[string]string{}
	for _, r := range tb.rows {
		doc[r[0]] = r[0]
	}
	code := map[string]string{}
	for _, v := range constsWith(t, loadConsts(t), "Func", "") {
		code[constant.StringVal(v)] = constant.StringVal(v)
	}
	compareSets(t, "Func constant", doc, code)
	for name := range doc {
		if !slices.ContainsFunc(s.headings, func(h string) bool { return strings.HasPrefix(h, "`"+name+"(") }) {
			t.Errorf("ABI.md: host function %q has no section", name)
		}
	}
}

func TestSpecExports(t *testing.T) {
	s := loadSpec(t)
	tb := s.table(t, "Exports", "export")
	checkSignatures(t, "export", tb, abi.Exports)

	// Export* constants: the functions are in the table, memory and the optional initialiser
	// in the prose of the section.
	section := s.section(t, "Exports")
	for name, v := range constsWith(t, loadConsts(t), "Export", "") {
		if !strings.Contains(section, "`"+constant.StringVal(v)+"`") {
			t.Errorf("ABI.md, Exports: %s = %q is not mentioned", name, constant.StringVal(v))
		}
	}
}

// section returns the text under the heading named name up to the next heading.
func (s *spec) section(t *testing.T, name string) string {
	t.Helper()
	lines := strings.Split(s.text, "\n")
	for i, l := range lines {
		if strings.TrimSpace(strings.TrimLeft(l, "#")) == name && strings.HasPrefix(l, "##") {
			var b strings.Builder
			for _, l := range lines[i+1:] {
				if strings.HasPrefix(l, "#") {
					break
				}
				b.WriteString(l + "\n")
			}
			return b.String()
		}
	}
	t.Fatalf("ABI.md: no section %q", name)
	return ""
}

// kindMap converts a kind → name map of the abi package to name → value.
func kindMap[K ~uint8](m map[K]string) map[string]int64 {
	out := map[string]int64{}
	for k, name := range m {
		out[name] = int64(k)
	}
	return out
}

// checkKinds compares a (kind, value) table with the kind map of the code and with the
// constants of the kind's type.
func checkKinds(t *testing.T, heading, first, prefix, typ string, code map[string]int64) {
	t.Helper()
	s := loadSpec(t)
	compareSets(t, first, atoiColumn(t, s.table(t, heading, first), "value"), code)

	// Every constant of the type has a name (and so a row), and every name a constant:
	// CommandWaitEvent ↔ "wait_event".
	consts := map[string]int64{}
	for name, v := range constsWith(t, loadConsts(t), prefix, typ) {
		consts[snake(strings.TrimPrefix(name, prefix))] = constInt(t, name, v)
	}
	compareSets(t, typ+" constant", code, consts)
}

func TestSpecCommandKinds(t *testing.T) {
	checkKinds(t, "Command", "command kind", "Command", "CommandKind", kindMap(abi.CommandKinds()))

	// The fields a kind uses are fields of the Command message.
	s := loadSpec(t)
	fields := s.table(t, "Command", "key").column(t, "field")
	known := map[string]bool{}
	for _, f := range fields {
		known[f] = true
	}
	for kind, list := range s.table(t, "Command", "command kind").column(t, "fields") {
		for _, f := range strings.Split(list, ",") {
			if f = strings.TrimSpace(f); !known[f] {
				t.Errorf("ABI.md: command kind %s uses field %q, which Command does not have", kind, f)
			}
		}
	}
}

func TestSpecFailureKinds(t *testing.T) {
	checkKinds(t, "Failure", "failure kind", "Failure", "FailureKind", kindMap(abi.FailureKinds()))
}

func TestSpecOutcomeKinds(t *testing.T) {
	checkKinds(t, "Outcome", "outcome kind", "Outcome", "OutcomeKind", kindMap(abi.OutcomeKinds()))
}

// checkNamedInts compares a (name, value) table with the constants prefix* of the code,
// whose names are the snake_case of the rest of the constant's name.
func checkNamedInts(t *testing.T, heading, first, prefix string) {
	t.Helper()
	s := loadSpec(t)
	code := map[string]int64{}
	for name, v := range constsWith(t, loadConsts(t), prefix, "") {
		code[snake(strings.TrimPrefix(name, prefix))] = constInt(t, name, v)
	}
	compareSets(t, first, atoiColumn(t, s.table(t, heading, first), "value"), code)
}

func TestSpecStatusCodes(t *testing.T) {
	checkNamedInts(t, "Status codes", "status", "Status")
	// The constants are int32 results of host functions: check the compiled values too.
	want := map[string]int32{"ok": abi.StatusOK, "not_ready": abi.StatusNotReady, "completed": abi.StatusCompleted}
	s := loadSpec(t)
	for name, v := range atoiColumn(t, s.table(t, "Status codes", "status"), "value") {
		if w, ok := want[name]; ok && int64(w) != v {
			t.Errorf("status %s: ABI.md %d, compiled %d", name, v, w)
		}
	}
}

func TestSpecLogLevels(t *testing.T) {
	checkNamedInts(t, "Log levels", "level", "Log")
}

func TestSpecFailureCodes(t *testing.T) {
	s := loadSpec(t)
	tb := s.table(t, "Failure codes", "code")
	doc := map[string]string{}
	var docOrder []string
	for _, r := range tb.rows {
		doc[r[0]] = r[0]
		docOrder = append(docOrder, r[0])
	}
	list := map[string]string{}
	for _, c := range abi.FailureCodes {
		if _, dup := list[c]; dup {
			t.Errorf("abi.FailureCodes lists %q twice", c)
		}
		list[c] = c
	}
	compareSets(t, "failure code (abi.FailureCodes)", doc, list)
	consts := map[string]string{}
	for name, v := range constsWith(t, loadConsts(t), "Code", "") {
		c := constant.StringVal(v)
		if prev, dup := consts[c]; dup {
			t.Errorf("failure code %q is both %s and %s", c, prev, name)
		}
		consts[c] = c
	}
	compareSets(t, "failure code (Code* constants)", doc, consts)
	if !t.Failed() && !slices.Equal(docOrder, abi.FailureCodes) {
		t.Errorf("failure codes: ABI.md order %v, abi.FailureCodes order %v", docOrder, abi.FailureCodes)
	}

	// The codes the other sections name are defined.
	for _, c := range regexp.MustCompile(`DH-[A-Z]+-\d{3}`).FindAllString(s.text, -1) {
		if _, ok := doc[c]; !ok {
			t.Errorf("ABI.md names failure code %s, which the Failure codes table does not define", c)
		}
	}
	for limit, code := range s.table(t, "Limits", "limit").column(t, "code") {
		if _, ok := doc[code]; !ok {
			t.Errorf("ABI.md: limit %q has code %q, which is not a failure code", limit, code)
		}
	}
}

// TestSpecReportedCodes: the column "a guest may report it" of the failure codes agrees with
// abi.HostOnly and abi.CheckReported, for every failure kind.
func TestSpecReportedCodes(t *testing.T) {
	tb := loadSpec(t).table(t, "Failure codes", "code")
	may := tb.column(t, "a guest may report it")
	kinds := tb.column(t, "kind")
	for code, rule := range may {
		if _, ok := kindMap(abi.FailureKinds())[kinds[code]]; !ok {
			t.Errorf("ABI.md: code %s has kind %q, which is not a failure kind", code, kinds[code])
		}
		if got, want := abi.HostOnly(code), rule == "no"; got != want {
			t.Errorf("HostOnly(%s) = %v, ABI.md says a guest may report it: %q", code, got, rule)
		}
		for k, name := range abi.FailureKinds() {
			var want bool
			switch rule {
			case "no":
			case "yes":
				want = true
			case "not as infrastructure":
				want = k != abi.FailureInfrastructure
			default:
				t.Fatalf("ABI.md: code %s: unknown rule %q (no, yes, not as infrastructure)", code, rule)
			}
			err := abi.CheckReported(&abi.Failure{Kind: k, Code: code, Message: "m"})
			if (err == nil) != want {
				t.Errorf("CheckReported(%s %s) = %v, want accepted %v", name, code, err, want)
			} else if err != nil && !strings.Contains(err.Error(), code) {
				t.Errorf("CheckReported(%s %s) = %q: the error does not name the code", name, code, err)
			}
		}
	}
	// Codes outside the table: an application's own codes are accepted unless they pose as
	// infrastructure failures, and the reserved families cover codes the table does not list.
	for _, tc := range []struct {
		kind abi.FailureKind
		code string
		ok   bool
	}{
		{abi.FailureApplication, "", true},
		{abi.FailureApplication, "payment_declined", true},
		{abi.FailureCancelled, "", true},
		{abi.FailureTimeout, "attempt_timeout", true},
		{abi.FailureInfrastructure, "", false},
		{abi.FailureInfrastructure, "payment_declined", false},
		{abi.FailureInfrastructure, "DH-ABI-999", true},
		{abi.FailureApplication, "DH-LIMIT-999", false},
		{abi.FailureApplication, "DH-TRAP-002", false},
		{abi.FailureApplication, "DH-CHILD-003", true},
		{abi.FailureApplication, "dh-limit-003", true}, // exact comparison: not the host's code
	} {
		if err := abi.CheckReported(&abi.Failure{Kind: tc.kind, Code: tc.code}); (err == nil) != tc.ok {
			t.Errorf("CheckReported(%s %q) = %v, want accepted %v", tc.kind, tc.code, err, tc.ok)
		}
	}
}

// TestSpecNames: the Names section states abi.MaxNameLen and exactly the characters
// abi.CheckName refuses.
func TestSpecNames(t *testing.T) {
	sec := loadSpec(t).section(t, "Names")
	m := regexp.MustCompile(`1 to (\d+) bytes`).FindStringSubmatch(sec)
	if m == nil {
		t.Fatal("ABI.md: Names does not state the length of a name")
	}
	if got := atoi(t, "name length", m[1]); got != abi.MaxNameLen {
		t.Errorf("ABI.md: names of up to %d bytes, abi.MaxNameLen is %d", got, abi.MaxNameLen)
	}
	forbidden := map[rune]bool{}
	for _, r := range regexp.MustCompile(`U\+([0-9A-F]{4})(?:–U\+([0-9A-F]{4}))?`).FindAllStringSubmatch(sec, -1) {
		lo, _ := strconv.ParseUint(r[1], 16, 32)
		hi := lo
		if r[2] != "" {
			hi, _ = strconv.ParseUint(r[2], 16, 32)
		}
		for c := lo; c <= hi; c++ {
			forbidden[rune(c)] = true
		}
	}
	for r := rune(0); r <= unicode.MaxRune; r++ {
		if r >= 0xd800 && r <= 0xdfff {
			continue // surrogates cannot be encoded in UTF-8
		}
		if got := abi.CheckName("a"+string(r)) != nil; got != forbidden[r] {
			t.Errorf("CheckName refuses %U: %v, ABI.md says %v", r, got, forbidden[r])
		}
	}
}

func TestSpecMaxAwaitHandles(t *testing.T) {
	s := loadSpec(t)
	m := regexp.MustCompile("`1 <= count <= (\\d+)`").FindStringSubmatch(s.text)
	if m == nil {
		t.Fatal("ABI.md: await does not state the range of count")
	}
	if got := atoi(t, "await count", m[1]); got != abi.MaxAwaitHandles {
		t.Errorf("ABI.md: await takes up to %d handles, abi.MaxAwaitHandles is %d", got, abi.MaxAwaitHandles)
	}
}

// cborFields returns the CBOR key → (field name in snake_case, type description) of a
// message struct, from its `cbor:"N,keyasint"` tags.
func cborFields(t *testing.T, typ reflect.Type) map[string]string {
	t.Helper()
	out := map[string]string{}
	for f := range typ.Fields() {
		tag, ok := f.Tag.Lookup("cbor")
		if !ok || tag == "-" {
			t.Errorf("%s.%s has no cbor key", typ.Name(), f.Name)
			continue
		}
		key, opts, _ := strings.Cut(tag, ",")
		if !slices.Contains(strings.Split(opts, ","), "keyasint") {
			t.Errorf("%s.%s: cbor tag %q lacks keyasint", typ.Name(), f.Name, tag)
		}
		if _, dup := out[key]; dup {
			t.Errorf("%s: cbor key %s used twice", typ.Name(), key)
		}
		out[key] = snake(f.Name) + " " + goWireType(f.Type)
	}
	return out
}

// goWireType describes a Go field type with the words ABI.md uses for CBOR types.
func goWireType(t reflect.Type) string {
	switch {
	case t.Kind() == reflect.String:
		return "text"
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8:
		return "bytes"
	case t.Kind() >= reflect.Uint && t.Kind() <= reflect.Uint64:
		return "uint"
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Int64:
		return "int"
	case t.Kind() == reflect.Pointer && t.Elem().Kind() == reflect.Struct:
		return t.Elem().Name() + " map"
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Struct:
		return "array of " + t.Elem().Name() + " maps"
	}
	return t.String()
}

// docWireType reduces the type column of a message table to its leading type words:
// "uint (command kind)" → "uint", "text: orchestration version" → "text".
func docWireType(s string) string {
	if i := strings.IndexAny(s, ":("); i >= 0 {
		s = s[:i]
	}
	return strings.TrimSpace(s)
}

func TestSpecMessageKeys(t *testing.T) {
	s := loadSpec(t)
	messages := []any{abi.Command{}, abi.Completion{}, abi.Failure{}, abi.Outcome{}, abi.StartInfo{}}
	for _, m := range messages {
		typ := reflect.TypeOf(m)
		t.Run(typ.Name(), func(t *testing.T) {
			tb := s.table(t, typ.Name(), "key")
			doc := map[string]string{}
			fields, types := tb.column(t, "field"), tb.column(t, "type")
			for key := range fields {
				doc[key] = fields[key] + " " + docWireType(types[key])
			}
			compareSets(t, typ.Name()+" cbor key", doc, cborFields(t, typ))
		})
	}

	t.Run("Registration", func(t *testing.T) {
		m := regexp.MustCompile("Registration: `\\{(.*)\\}`").FindStringSubmatch(s.text)
		if m == nil {
			t.Fatal("ABI.md does not define Registration")
		}
		doc := map[string]string{}
		for _, f := range regexp.MustCompile(`(\d+): (\w+) \((\w+)\)`).FindAllStringSubmatch(m[1], -1) {
			doc[f[1]] = f[2] + " " + f[3]
		}
		compareSets(t, "Registration cbor key", doc, cborFields(t, reflect.TypeFor[abi.Registration]()))
	})

	t.Run("Mode", func(t *testing.T) {
		mode := s.table(t, "StartInfo", "key").column(t, "type")["1"]
		doc := map[string]int64{}
		for _, f := range regexp.MustCompile(`(\d+) (\w+)`).FindAllStringSubmatch(mode, -1) {
			doc[f[2]] = atoi(t, "mode", f[1])
		}
		code := map[string]int64{}
		for name, v := range constsWith(t, loadConsts(t), "Mode", "Mode") {
			code[snake(strings.TrimPrefix(name, "Mode"))] = constInt(t, name, v)
		}
		compareSets(t, "StartInfo mode", doc, code)
	})
}

// TestSpecReferences checks that the sections Go comments and ABI.md refer to exist.
func TestSpecReferences(t *testing.T) {
	s := loadSpec(t)
	names := map[string]bool{}
	for _, h := range s.headings {
		// "Command (guest → host, `schedule`)" can be referred to as "Command".
		names[h] = true
		if i := strings.Index(h, " ("); i > 0 {
			names[h[:i]] = true
		}
	}
	check := func(where, ref string) {
		if !names[ref] {
			t.Errorf("%s refers to section %q of ABI.md, which does not exist", where, ref)
		}
	}
	for _, m := range regexp.MustCompile(`\(see "([^"]+)"\)`).FindAllStringSubmatch(s.text, -1) {
		check("ABI.md", m[1])
	}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	goRef := regexp.MustCompile(`See ABI\.md, "([^"]+)"|see ([A-Z][\w ]*?) in ABI\.md`)
	for _, name := range files {
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range goRef.FindAllSubmatch(src, -1) {
			check(name, string(bytes.TrimSpace(append(m[1], m[2]...))))
		}
	}
}

func TestMarshalDeterministic(t *testing.T) {
	tests := []struct {
		name string
		v    any
		hex  string
	}{
		{"command", abi.Command{Kind: abi.CommandActivity, Name: "a"}, "a20101026161"},
		{"timer", abi.Command{Kind: abi.CommandTimer, Delay: 1000}, "a2010206190 3e8"},
		{"completion empty", abi.Completion{}, "a0"},
		{"failure", abi.Completion{Failure: &abi.Failure{Kind: abi.FailureApplication, Message: "x"}}, "a102a201010361 78"},
		{"start info", abi.StartInfo{Name: "n", ExecutionID: 1, StartTime: -1}, "a302616e050109 20"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := abi.Marshal(tt.v)
			if err != nil {
				t.Fatal(err)
			}
			b, err := abi.Marshal(tt.v)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(a, b) {
				t.Fatalf("two encodings differ: %x, %x", a, b)
			}
			if want := strings.ReplaceAll(tt.hex, " ", ""); hex.EncodeToString(a) != want {
				t.Errorf("Marshal = %x, want %s", a, want)
			}
			got := reflect.New(reflect.TypeOf(tt.v))
			if err := abi.Unmarshal(a, got.Interface()); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got.Elem().Interface(), tt.v) {
				t.Errorf("round trip: got %+v, want %+v", got.Elem().Interface(), tt.v)
			}
		})
	}
}

func TestUnmarshal(t *testing.T) {
	tests := []struct {
		name string
		hex  string
		want abi.Command
		ok   bool
	}{
		{"canonical", "a20101026161", abi.Command{Kind: 1, Name: "a"}, true},
		// The host accepts any valid encoding from the guest: unsorted keys, indefinite
		// lengths, integers not in their shortest form.
		{"unsorted keys", "a20261610101", abi.Command{Kind: 1, Name: "a"}, true},
		{"indefinite map", "bf0101ff", abi.Command{Kind: 1}, true},
		{"long integer", "a1011801", abi.Command{Kind: 1}, true},
		{"unknown key", "a201010701", abi.Command{}, false},
		{"text key", "a2010161780101", abi.Command{}, false},
		{"duplicate key", "a201010102", abi.Command{}, false},
		{"trailing bytes", "a1010100", abi.Command{}, false},
		{"truncated", "a2010102", abi.Command{}, false},
		{"wrong type", "a1016161", abi.Command{}, false},
		{"not a map", "01", abi.Command{}, false},
		{"empty", "", abi.Command{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, err := hex.DecodeString(tt.hex)
			if err != nil {
				t.Fatal(err)
			}
			var got abi.Command
			err = abi.Unmarshal(data, &got)
			if tt.ok != (err == nil) {
				t.Fatalf("Unmarshal(%s): err = %v, want ok = %v", tt.hex, err, tt.ok)
			}
			if tt.ok && !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Unmarshal(%s) = %+v, want %+v", tt.hex, got, tt.want)
			}
		})
	}
}
