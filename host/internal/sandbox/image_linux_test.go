package sandbox

import (
	"bytes"
	"context"
	"testing"

	"github.com/durohost/durohost/history"
	"github.com/durohost/durohost/host/internal/replay"
	"github.com/durohost/durohost/host/internal/wasmopt"
)

// TestImageMemory: a memory starts from its image (zeros beyond it); a recycled one is
// restored to the image, whatever its last guest wrote; after close, freed memories are not
// pooled any more.
func TestImageMemory(t *testing.T) {
	image := bytes.Repeat([]byte("durohost"), 3000) // 24,000 bytes: not a page multiple
	img, err := newDataImage(&wasmopt.Image{Size: uint64(len(image)), Segments: []wasmopt.Segment{{Offset: 0, Data: bytes.Clone(image)}}})
	if err != nil {
		t.Fatal(err)
	}
	const max = 16 * 65536
	check := func(m *reservedMemory, what string) []byte {
		t.Helper()
		m.allocator().Allocate(0, max)
		b := m.Reallocate(2 * 65536)
		if len(b) != 2*65536 {
			t.Fatalf("%s: %d bytes", what, len(b))
		}
		if !bytes.Equal(b[:len(image)], image) {
			t.Fatalf("%s: memory does not start with the image", what)
		}
		if !bytes.Equal(b[len(image):], make([]byte, len(b)-len(image))) {
			t.Fatalf("%s: memory is not zero beyond the image", what)
		}
		return b
	}
	first := newMemory(img, nil)
	b := check(first, "new")
	for i := range b {
		b[i] = 0xAB
	}
	before := imagePoolBytes.Load()
	first.Free()
	if len(img.pool) != 1 {
		t.Fatalf("%d pooled after Free, want 1", len(img.pool))
	}
	if got := imagePoolBytes.Load() - before; got != int64(img.pool[0].committed) || got < 2*65536 {
		t.Fatalf("pooled bytes grew by %d, want the memory's committed %d", got, img.pool[0].committed)
	}
	second := newMemory(img, nil)
	if c := check(second, "recycled"); &c[0] != &b[0] {
		t.Fatal("the pooled memory was not reused")
	}
	grown := second.Reallocate(4 * 65536)
	if !bytes.Equal(grown[2*65536:], make([]byte, 2*65536)) {
		t.Fatal("grown memory is not zero")
	}
	if err := img.close(); err != nil {
		t.Fatal(err)
	}
	second.Free()
	if len(img.pool) != 0 {
		t.Fatalf("%d pooled after close, want 0", len(img.pool))
	}
	if got := imagePoolBytes.Load(); got != before {
		t.Fatalf("pooled bytes %d after the pool emptied, want %d", got, before)
	}
}

// TestRuntimeCloseReleasesPools: closing a runtime gives back the memories its modules' images
// pooled (hosts that stop must not leave them resident).
func TestRuntimeCloseReleasesPools(t *testing.T) {
	before := imagePoolBytes.Load()
	rt, err := New(context.Background(), Config{CacheDir: cacheDir})
	if err != nil {
		t.Fatal(err)
	}
	m, err := rt.Load(context.Background(), buildGuest(t, featuresGuest, ""))
	if err != nil {
		t.Fatal(err)
	}
	if m.image == nil {
		t.Skip("no memory image for the guest")
	}
	for range 3 {
		eng, err := replay.New(replay.Config{InstanceID: "i", Execution: 1}, []history.Event{
			{ID: 1, Kind: history.KindTurnStarted, Time: epoch}, {ID: 2, Kind: history.KindExecutionStarted, Name: "hello"}})
		if err != nil {
			t.Fatal(err)
		}
		inst, err := rt.Instantiate(context.Background(), m, eng, "i", 1)
		if err != nil {
			t.Fatal(err)
		}
		inst.Close()
	}
	if imagePoolBytes.Load() <= before {
		t.Fatal("closed instances pooled nothing")
	}
	if err := rt.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := imagePoolBytes.Load(); got != before {
		t.Fatalf("pooled bytes %d after the runtime closed, want %d", got, before)
	}
}
