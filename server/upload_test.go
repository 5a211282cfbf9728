package server

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

func TestStalledUploadsMemory(t *testing.T) {
	// 40 authenticated uploads declare 64 MiB each and send one byte: the server's buffers grow
	// with what arrives, so the heap grows by far less than what they declare (2.5 GiB).
	const uploads, declared = 40, 64 << 20
	const bound = 16 << 20
	e := newEnv(t, WithTimeouts(Timeouts{Upload: failsafe}))
	var started atomic.Int64
	setBodyHook(t, func() { started.Add(1) })
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	conns := make([]net.Conn, uploads)
	for i := range conns {
		conns[i] = e.rawRequest(fmt.Sprintf("PUT /v1/modules/m%d HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Length: %d", i, tokA, declared), []byte{0})
	}
	deadline := time.Now().Add(failsafe)
	for started.Load() < uploads {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d uploads were read", started.Load(), uploads)
		}
		runtime.Gosched()
	}
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	growth := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("heap growth with %d stalled uploads of %d MiB: %.1f MiB", uploads, declared>>20, float64(growth)/(1<<20))
	if growth > bound {
		t.Fatalf("the heap grew by %d bytes with %d stalled uploads, more than %d", growth, uploads, bound)
	}
	for _, c := range conns {
		c.Close()
	}
}

func TestStalledUpload(t *testing.T) {
	// An authenticated upload may take Timeouts.Upload to arrive, not longer.
	e := newEnv(t, WithTimeouts(shortTimeouts))
	conn := e.rawRequest("PUT /v1/modules/m HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "+tokA+"\r\nContent-Length: 1000", []byte{0})
	br := bufio.NewReader(conn)
	r := readAnswer(t, conn, br)
	if r.status != http.StatusRequestTimeout || r.code(t) != CodeRequestTimeout {
		t.Fatalf("status %d, body %s", r.status, r.body)
	}
	expectClosed(t, conn, br)
}
