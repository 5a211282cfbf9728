package wasmopt_test

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero"

	"github.com/durohost/durohost/host/internal/wasmopt"
	"github.com/durohost/durohost/internal/testguest"
)

// imageEquivalent checks that stripped and image are orig split by DataImage: the sections
// other than data and data count are the same, stripped has no data segment, and the
// memory of orig after instantiation is the memory of stripped with image written at 0.
func imageEquivalent(t *testing.T, cfg wazero.RuntimeConfig, orig, stripped, image []byte) {
	t.Helper()
	a, err := wasmopt.Sections(orig)
	if err != nil {
		t.Fatal(err)
	}
	b, err := wasmopt.Sections(stripped)
	if err != nil {
		t.Fatalf("stripped module: %v", err)
	}
	if !slices.EqualFunc(a, b, bytes.Equal) {
		t.Errorf("sections other than data and data count differ")
	}
	if n, err := wasmopt.DataSegments(stripped); err != nil || n != 0 {
		t.Errorf("stripped module has %d data segments (%v), want 0", n, err)
	}
	x, y := instantiate(t, cfg, orig, false), instantiate(t, cfg, stripped, false)
	if x.stage != "" || y.stage != "" {
		t.Fatalf("original: %s %v; stripped: %s %v; want both to instantiate", x.stage, x.err, y.stage, y.err)
	}
	if len(image) > len(y.memory) {
		t.Fatalf("image of %d bytes, initial memory of %d", len(image), len(y.memory))
	}
	if bytes.ContainsFunc(y.memory, func(r rune) bool { return r != 0 }) {
		t.Fatalf("the stripped module's memory is not zero")
	}
	copy(y.memory, image)
	if !bytes.Equal(x.memory, y.memory) {
		t.Errorf("memory differs (%d and %d bytes) from byte %d", len(x.memory), len(y.memory), firstDiff(x.memory, y.memory))
	}
}

// imageCases are modules with whether DataImage splits them (false: returned as is).
var imageCases = []struct {
	name  string
	wasm  []byte
	split bool
}{
	{"no data", mod(memory(1)), false},
	{"no memory", mod(data(active(0, "a"))), false},
	{"one segment", mod(memory(1), data(active(8, "abc"))), true},
	{"later overwrites", mod(memory(1), data(active(10, "aaaa"), active(11, "bb"), active(9, "ccc"))), true},
	{"unsorted with a gap", mod(memory(2), data(active(70000, "cd"), active(0, "ab"))), true},
	{"empty segment", mod(memory(1), data(active(5, ""), active(6, "x"))), true},
	{"data count", mod(memory(1), dataCount(2), data(active(0, "a"), active(1, "b"))), true},
	{"up to the end of memory", mod(memory(1), data(active(65533, "abc"))), true},
	{"beyond the initial memory", mod(memory(1), data(active(65534, "abc"))), false},
	{"data count and memory.init", mod(append(append([][]byte{}, function(memoryInit...)[:2]...),
		memory(1), dataCount(2), function(memoryInit...)[2], data(active(0, "a"), active(1, "b")))...), false},
	{"passive", mod(memory(1), data(active(0, "a"), passive("p"))), false},
	{"global offset", mod(memory(1), global(4), data(active(0, "a"), activeGlobal(0, "g"))), false},
	{"memory 1", mod(memory(1), data(activeMem(1, 1, "b"))), false},
	{"negative offset", mod(memory(1), data(active(-1, "b"))), false},
	{"imported memory", mod(sec(2, []byte{1}, name("env"), name("memory"), []byte{2, 0, 1}), data(active(0, "a"))), false},
	{"shared memory", mod(sec(5, []byte{1, 3}, u32(1), u32(1)), data(active(0, "a"))), false},
	{"two memories", mod(sec(5, []byte{2, 0}, u32(1), []byte{0}, u32(1)), data(active(0, "a"))), false},
}

func TestDataImage(t *testing.T) {
	for _, tt := range imageCases {
		t.Run(tt.name, func(t *testing.T) {
			stripped, image, err := wasmopt.DataImage(tt.wasm)
			if err != nil {
				t.Fatal(err)
			}
			if !tt.split {
				if image != nil || &stripped[0] != &tt.wasm[0] || len(stripped) != len(tt.wasm) {
					t.Fatalf("module split (image of %d bytes), want it returned as is", len(image))
				}
				return
			}
			if image == nil {
				t.Fatal("no image, want the module split")
			}
			imageEquivalent(t, interpreter(), tt.wasm, stripped, image)
		})
	}
}

func TestDataImageMalformed(t *testing.T) {
	for _, tt := range []struct {
		name string
		wasm []byte
	}{
		{"not wasm", []byte("\x7fELF\x01\x00\x00\x00")},
		{"truncated memory section", mod(sec(5, []byte{0x80}), data(active(0, "a")))},
		{"truncated memory minimum", mod(sec(5, []byte{1, 0, 0x80}), data(active(0, "a")))},
		{"truncated data", mod(memory(1), sec(11, u32(1), []byte{0, 0x41, 0}))},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, err := wasmopt.DataImage(tt.wasm); !errors.Is(err, wasmopt.ErrMalformed) {
				t.Fatalf("error %v, want ErrMalformed", err)
			}
		})
	}
}

// TestDataImageRealModules splits modules of several toolchains: Go guests, a C reactor, an
// AssemblyScript module and the WAT fixtures, and checks each (see imageEquivalent).
func TestDataImageRealModules(t *testing.T) {
	type module struct {
		name string
		wasm func(t *testing.T) []byte
	}
	var tests []module
	for i, pkg := range goGuests {
		if testing.Short() && i > 0 {
			break
		}
		tests = append(tests, module{pkg, func(t *testing.T) []byte { return testguest.Build(t, pkg, "") }})
	}
	tests = append(tests,
		module{"testdata/guest.wasm (C)", func(t *testing.T) []byte { return readFile(t, "testdata/guest.wasm") }},
		module{"testdata/guest-as.wasm (AssemblyScript)", func(t *testing.T) []byte { return readFile(t, "testdata/guest-as.wasm") }},
	)
	wats, err := filepath.Glob(filepath.Join(testguest.Root(), "conformance", "testdata", "wat", "*.wasm"))
	if err != nil || len(wats) == 0 {
		t.Fatalf("no WAT fixtures: %v", err)
	}
	for _, path := range wats {
		tests = append(tests, module{"wat/" + filepath.Base(path), func(t *testing.T) []byte { return readFile(t, path) }})
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			orig := tt.wasm(t)
			stripped, image, err := wasmopt.DataImage(orig)
			if err != nil {
				t.Fatal(err)
			}
			if image == nil {
				t.Logf("not split")
				if i == 0 || tt.name[:8] == "testdata" {
					t.Errorf("a Go guest, the C reactor and the AssemblyScript module must be split")
				}
				return
			}
			t.Logf("%d bytes -> %d bytes and an image of %d bytes", len(orig), len(stripped), len(image))
			cfg := interpreter()
			if i == 0 {
				cfg = sandboxConfig()
			}
			imageEquivalent(t, cfg.WithMemoryLimitPages(65536), orig, stripped, image)
		})
	}
}

// recorder is an io.WriterAt that records each write.
type recorder struct {
	writes []write
}

type write struct {
	off  int64
	data []byte
}

func (r *recorder) WriteAt(p []byte, off int64) (int, error) {
	r.writes = append(r.writes, write{off, bytes.Clone(p)})
	return len(p), nil
}

// paint returns memory of size bytes with the writes applied.
func (r *recorder) paint(size int) []byte {
	mem := make([]byte, size)
	for _, w := range r.writes {
		copy(mem[w.off:], w.data)
	}
	return mem
}

// TestImageSparse: the image of a module with a segment at 200 MiB costs a few allocations
// of a few bytes, and writing it writes the segments only.
func TestImageSparse(t *testing.T) {
	const high = 200 << 20
	wasm := mod(memory(high/65536+1), data(active(0, "a"), active(high, "hello")))
	m, err := wasmopt.Parse(wasm)
	if err != nil {
		t.Fatal(err)
	}
	if err := wasmopt.Check(m, wasmopt.Limits{MaxMemoryPages: high/65536 + 1}); err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	stripped, img, err := m.DataImage()
	runtime.ReadMemStats(&after)
	if err != nil || img == nil {
		t.Fatalf("DataImage = %v, %v; want an image", img, err)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 64<<10 {
		t.Errorf("DataImage allocated %d bytes", n)
	}
	if allocs := testing.AllocsPerRun(10, func() { m.DataImage() }); allocs > 5 {
		t.Errorf("DataImage made %.0f allocations", allocs)
	}
	if img.Size != high+5 || img.DataBytes() != 6 || len(img.Segments) != 2 || img.Segments[1].Offset != high || string(img.Segments[1].Data) != "hello" {
		t.Errorf("image %+v", img)
	}
	if n, err := wasmopt.DataSegments(stripped); err != nil || n != 0 {
		t.Errorf("stripped module has %d data segments (%v)", n, err)
	}
	var r recorder
	if err := img.WriteAt(&r); err != nil {
		t.Fatal(err)
	}
	if len(r.writes) != 2 || r.writes[0].off != 0 || string(r.writes[0].data) != "a" || r.writes[1].off != high || string(r.writes[1].data) != "hello" {
		t.Errorf("writes %+v, want the two segments", r.writes)
	}
}

// TestDataImageFlatBound: the function DataImage, whose image is flat, leaves alone a module
// whose image would pass MaxImage; the sparse one splits it.
func TestDataImageFlatBound(t *testing.T) {
	const high = wasmopt.MaxImage + 1<<20
	wasm := mod(memory(high/65536+1), data(active(high, "x")))
	stripped, image, err := wasmopt.DataImage(wasm)
	if err != nil || image != nil || &stripped[0] != &wasm[0] {
		t.Fatalf("DataImage = %d bytes, image of %d, %v; want the module as is", len(stripped), len(image), err)
	}
	m, err := wasmopt.Parse(wasm)
	if err != nil {
		t.Fatal(err)
	}
	if _, img, err := m.DataImage(); err != nil || img == nil || img.Size != high+1 {
		t.Fatalf("(*Module).DataImage = %+v, %v", img, err)
	}
}

// TestImageOverlaps compares the images of random modules, whose segments overlap in every
// way, with the memory that writing the segments in order gives.
func TestImageOverlaps(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 500 {
		n := 1 + rng.IntN(30)
		var segs [][]byte
		ref := make([]byte, 65536)
		for j := range n {
			off, size := rng.IntN(4000), rng.IntN(300)
			if rng.IntN(3) == 0 {
				off += 30000 // far from the others: a separate write
			}
			s := bytes.Repeat([]byte{byte(j + 1)}, size)
			segs = append(segs, active(int32(off), string(s)))
			copy(ref[off:], s)
		}
		m, err := wasmopt.Parse(mod(memory(1), data(segs...)))
		if err != nil {
			t.Fatal(err)
		}
		_, img, err := m.DataImage()
		if err != nil || img == nil {
			t.Fatalf("module %d: %v, %v", i, img, err)
		}
		var end uint64
		for k, s := range img.Segments {
			if len(s.Data) == 0 || (k > 0 && s.Offset < end) {
				t.Fatalf("module %d: segment %d at %d (%d bytes) is empty or overlaps the previous one, ending at %d", i, k, s.Offset, len(s.Data), end)
			}
			end = s.Offset + uint64(len(s.Data))
		}
		if end > img.Size {
			t.Fatalf("module %d: segments end at %d, past the size %d", i, end, img.Size)
		}
		var r recorder
		if err := img.WriteAt(&r); err != nil {
			t.Fatal(err)
		}
		if got := r.paint(len(ref)); !bytes.Equal(got, ref) {
			t.Fatalf("module %d: image differs from byte %d", i, firstDiff(got, ref))
		}
		flat := make([]byte, len(ref))
		for _, s := range img.Segments {
			copy(flat[s.Offset:], s.Data)
		}
		if !bytes.Equal(flat, ref) {
			t.Fatalf("module %d: segments differ from byte %d", i, firstDiff(flat, ref))
		}
	}
}

// TestImageWriteAtRuns: segments less than 4 KiB apart are written together, others apart,
// and no write is larger than 1 MiB unless a segment is.
func TestImageWriteAtRuns(t *testing.T) {
	seg := func(off uint64, n int) wasmopt.Segment {
		return wasmopt.Segment{Offset: off, Data: bytes.Repeat([]byte{1}, n)}
	}
	tests := []struct {
		name string
		segs []wasmopt.Segment
		want [][2]int64 // offset, length of each write
	}{
		{"joined", []wasmopt.Segment{seg(0, 10), seg(4095, 1), seg(8191, 1)}, [][2]int64{{0, 8192}}},
		{"a page apart", []wasmopt.Segment{seg(0, 10), seg(4106, 1)}, [][2]int64{{0, 10}, {4106, 1}}},
		{"run limit", []wasmopt.Segment{seg(0, 1<<20-10), seg(1<<20-5, 5), seg(1<<20, 1)}, [][2]int64{{0, 1 << 20}, {1 << 20, 1}}},
		{"large segment", []wasmopt.Segment{seg(0, 3<<20)}, [][2]int64{{0, 3 << 20}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img := &wasmopt.Image{Segments: tt.segs}
			var r recorder
			if err := img.WriteAt(&r); err != nil {
				t.Fatal(err)
			}
			var got [][2]int64
			for _, w := range r.writes {
				got = append(got, [2]int64{w.off, int64(len(w.data))})
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("writes %v, want %v", got, tt.want)
			}
		})
	}
	failing := &wasmopt.Image{Segments: []wasmopt.Segment{seg(8, 1)}}
	if err := failing.WriteAt(errWriter{}); !errors.Is(err, errWrite) || !strings.Contains(err.Error(), "at 8") {
		t.Errorf("WriteAt = %v, want the writer's error at 8", err)
	}
}

var errWrite = errors.New("disk full")

type errWriter struct{}

func (errWriter) WriteAt([]byte, int64) (int, error) { return 0, errWrite }
