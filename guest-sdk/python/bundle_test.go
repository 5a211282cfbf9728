package python

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/fxamacker/cbor/v2"
)

// filesSection returns the contents of the module's last custom section, which Bundle
// appends, after checking its name.
func filesSection(t *testing.T, wasm, runtime []byte) []byte {
	t.Helper()
	rest := wasm[len(runtime):]
	if rest[0] != 0 {
		t.Fatalf("appended section id %d, want a custom section", rest[0])
	}
	p := 1
	for rest[p] >= 0x80 { // the section's size
		p++
	}
	p++
	if int(rest[p]) != len(FilesSection) || string(rest[p+1:p+1+len(FilesSection)]) != FilesSection {
		t.Fatalf("the appended section is not %s", FilesSection)
	}
	return rest[p+1+len(FilesSection):]
}

func TestBundle(t *testing.T) {
	script := []byte("import durohost\n")
	a, err := Bundle(script)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Bundle(script)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) || !bytes.HasPrefix(a, Runtime) {
		t.Fatal("bundling is not reproducible or does not start with the runtime")
	}
	var files map[string][]byte
	if err := cbor.Unmarshal(filesSection(t, a, Runtime), &files); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(files[MainFile], script) || !bytes.Equal(files[LibDir+"/durohost.py"], SDK) {
		t.Fatal("main.py or the SDK is missing")
	}
	for _, want := range []string{"json/__init__.pyc", "json/decoder.pyc", "encodings/utf_8.pyc", "re/__init__.pyc", "random.pyc"} {
		if _, ok := files[LibDir+"/"+want]; !ok {
			t.Errorf("the standard library lacks %s", want)
		}
	}
	for name := range files {
		if strings.Contains(name, "/test/") || strings.HasPrefix(name, LibDir+"/tkinter/") {
			t.Errorf("bundled %s, which the standard library leaves out", name)
		}
	}
	if _, err := Bundle([]byte{0xff}); !errors.Is(err, ErrBadScript) {
		t.Fatalf("a script that is not UTF-8: %v", err)
	}
}
