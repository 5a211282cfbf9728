package sandbox

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"math/rand/v2"
	"sync"
)

// wasiFunctions are the WASI preview 1 functions a module may import. The host implements
// them with no filesystem, no sockets, no arguments and no environment (calls fail with
// EBADF or return empty), and deterministic clocks and randomness (see ABI.md).
var wasiFunctions = map[string]bool{
	"args_get": true, "args_sizes_get": true, "environ_get": true, "environ_sizes_get": true,
	"clock_res_get": true, "clock_time_get": true, "random_get": true, "poll_oneoff": true,
	"proc_exit": true, "proc_raise": true, "sched_yield": true,
	"fd_advise": true, "fd_allocate": true, "fd_close": true, "fd_datasync": true,
	"fd_fdstat_get": true, "fd_fdstat_set_flags": true, "fd_fdstat_set_rights": true,
	"fd_filestat_get": true, "fd_filestat_set_size": true, "fd_filestat_set_times": true,
	"fd_pread": true, "fd_prestat_get": true, "fd_prestat_dir_name": true, "fd_pwrite": true,
	"fd_read": true, "fd_readdir": true, "fd_renumber": true, "fd_seek": true, "fd_sync": true,
	"fd_tell": true, "fd_write": true,
	"path_create_directory": true, "path_filestat_get": true, "path_filestat_set_times": true,
	"path_link": true, "path_open": true, "path_readlink": true, "path_remove_directory": true,
	"path_rename": true, "path_symlink": true, "path_unlink_file": true,
	"sock_accept": true, "sock_recv": true, "sock_send": true, "sock_shutdown": true,
}

// randomSource returns the deterministic stream random_get reads for an execution.
func randomSource(instanceID string, execution uint32) *rand.ChaCha8 {
	h := sha256.New()
	h.Write([]byte("durohost/v1/random"))
	h.Write([]byte(instanceID))
	h.Write([]byte{0})
	var e [4]byte
	binary.BigEndian.PutUint32(e[:], execution)
	h.Write(e[:])
	var seed [32]byte
	copy(seed[:], h.Sum(nil))
	return rand.NewChaCha8(seed)
}

// phasedRandom is the source random_get reads: the stream of no instance while the module
// initialises, then the instance's own.
type phasedRandom struct {
	inst      *Instance
	init, own *rand.ChaCha8
	// first holds the first read of initialisation when it was 32 bytes (the seed of the Go
	// runtime's generators, see gorand.go).
	first []byte
	reads int
}

func (r *phasedRandom) Read(p []byte) (int, error) {
	if r.inst.initializing {
		n, err := r.init.Read(p)
		if r.reads++; r.reads == 1 && len(p) == 32 {
			r.first = append([]byte(nil), p...)
		}
		return n, err
	}
	return r.own.Read(p)
}

// lineWriter turns a guest's stdout or stderr into log lines. Lines written while the guest
// replays are dropped.
type lineWriter struct {
	mu    sync.Mutex
	inst  *Instance
	level int32
	buf   []byte
}

const maxLogLine = 64 << 10

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			w.buf = append(w.buf, p...)
			if len(w.buf) > maxLogLine {
				w.flush()
			}
			break
		}
		w.buf = append(w.buf, p[:i]...)
		w.flush()
		p = p[i+1:]
	}
	return n, nil
}

func (w *lineWriter) flush() {
	if len(w.buf) > maxLogLine {
		w.buf = w.buf[:maxLogLine]
	}
	w.inst.log(w.level, string(w.buf))
	w.buf = w.buf[:0]
}
