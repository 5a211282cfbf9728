package sandbox

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"

	"github.com/fxamacker/cbor/v2"
	"github.com/tetratelabs/wazero"
	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
	"github.com/tetratelabs/wazero/experimental/sysfs"
	"github.com/tetratelabs/wazero/sys"

	"github.com/durohost/durohost/abi"
	"github.com/durohost/durohost/host/internal/wasmopt"
)

// The stream form of the ABI (ABI.md, "Stream form"). A module that imports nothing from
// abi.ImportModule is an ordinary WASI program: the host's deterministic WASI gives it one
// preopened directory, StreamDir, holding the files the module bundles (files/...) and one
// file, StreamFile, on which the guest writes
// CBOR-framed calls and reads their answers. Every call is one of the host functions, run by
// the same code (hostfuncs.go), on the same engine, under the same limits; the write that
// completes an await call is where the guest parks, exactly as in the imported await.

// Names of the stream form.
const (
	// StreamDir is the directory the host preopens for a stream-form module.
	StreamDir = "/durohost"
	// StreamFile is the name, in StreamDir, of the file that carries version 1 of the stream
	// ABI (the version is the name: a later version is another file).
	StreamFile = "v1"
	// StreamPath is the file's full path.
	StreamPath = StreamDir + "/" + StreamFile
	// ExportStart is the entry point of a WASI command: the host calls it once per instance
	// (instead of durohost_run) when a stream-form module does not export durohost_run.
	ExportStart = "_start"
)

// Call numbers of the stream form: the first element of a call's CBOR array.
const (
	StreamStartInfo   = 1
	StreamSchedule    = 2
	StreamAwait       = 3
	StreamResult      = 4
	StreamCancel      = 5
	StreamSetStatus   = 6
	StreamComplete    = 7
	StreamLog         = 8
	StreamIsReplaying = 9
)

// streamCallNames names the calls for messages.
var streamCallNames = map[uint64]string{
	StreamStartInfo: abi.FuncStartInfo, StreamSchedule: abi.FuncSchedule, StreamAwait: abi.FuncAwait,
	StreamResult: abi.FuncResult, StreamCancel: abi.FuncCancel, StreamSetStatus: abi.FuncSetStatus,
	StreamComplete: abi.FuncComplete, StreamLog: abi.FuncLog, StreamIsReplaying: abi.FuncIsReplaying,
}

// streamCallArgs is the number of arguments of each call.
var streamCallArgs = map[uint64]int{StreamStartInfo: 0, StreamSchedule: 1, StreamAwait: 1, StreamResult: 1, StreamCancel: 1,
	StreamSetStatus: 1, StreamComplete: 1, StreamLog: 2, StreamIsReplaying: 0}

// maxUnread bounds the answers a guest has not read yet (it writes calls without reading
// their answers): a guest that keeps doing so is stopped rather than let grow host memory.
const maxUnread = 8 << 20

// stream is an instance's channel: the bytes of calls not yet complete, and the answers not
// yet read. Every descriptor the guest opens on StreamPath shares it.
type stream struct {
	inst *Instance
	in   []byte // written, not yet a complete call
	out  []byte // answers, not yet read
	// frame is how far the call at the start of in has been framed, so that a call written
	// in many pieces is scanned once, not once per piece.
	frame framer
	// charged is what in and out are charged to the runtime's guest memory budget: a guest
	// parked with a call half written or answers unread holds host memory, which counts as
	// its own.
	charged int64
}

// account charges the bytes the stream holds to the guest memory budget, or gives back what
// it no longer holds. A guest whose buffers do not fit is stopped as one whose memory cannot
// grow is (ErrMemoryBudget).
func (s *stream) account() {
	if s.inst.initializing {
		// Charged at the first account of the run (initialisation has no budget to stop).
		return
	}
	held := int64(len(s.in) + len(s.out))
	budget := s.inst.rt.mem
	switch {
	case held < s.charged:
		budget.release(s.charged - held)
	case held > s.charged && !budget.tryAcquire(held-s.charged):
		budget.force(held - s.charged)
		s.charged = held
		s.inst.dog.stop(fmt.Errorf("%w (%d bytes, stream buffers)", ErrMemoryBudget, s.inst.rt.cfg.GuestMemory))
		panic(errKilled)
	}
	s.charged = held
}

// release gives back the stream's charge (its guest has ended or been discarded).
func (s *stream) release() {
	if s != nil {
		s.inst.rt.mem.release(s.charged)
		s.charged = 0
	}
}

// write takes bytes the guest wrote and runs every call they complete, in order. A call that
// awaits parks the guest here until the host answers it (possibly in a later turn). The bytes
// are taken in pieces of at most the call limit, so that the host never holds more than about
// twice the limit of a guest's unframed bytes, whatever the size of one write.
func (s *stream) write(p []byte) {
	limit := s.inst.rt.cfg.MaxPayload + 64<<10 // payload plus message framing, as in read
	for len(p) > 0 {
		piece := p[:min(len(p), limit)]
		p = p[len(piece):]
		s.in = append(s.in, piece...)
		s.frameCalls(limit)
		s.account()
	}
}

// frameCalls runs every complete call at the start of s.in.
func (s *stream) frameCalls(limit int) {
	for len(s.in) > 0 {
		n, err := s.frame.next(s.in)
		if errors.Is(err, errShortItem) {
			if len(s.in) > limit {
				s.inst.stopf(abi.CodePayloadTooLarge, "stream: call of more than %d bytes is more than the limit of %d", len(s.in), limit)
			}
			return
		}
		s.frame = framer{}
		if err != nil {
			s.inst.stopf(abi.CodeBadMessage, "stream: %v", err)
		}
		if n > limit {
			s.inst.stopf(abi.CodePayloadTooLarge, "stream: call of %d bytes is more than the limit of %d", n, limit)
		}
		frame := s.in[:n:n]
		s.in = s.in[n:]
		answer := s.inst.streamCall(frame)
		if len(s.out)+len(answer) > maxUnread {
			s.inst.stopf(abi.CodeBadArgument, "stream: more than %d bytes of answers left unread (read each call's answer)", maxUnread)
		}
		s.out = append(s.out, answer...)
		// Charged before an await that follows can park the guest.
		s.account()
		if len(s.in) == 0 {
			s.in = nil
		}
	}
}

// read gives the guest answer bytes; with none pending it reads end of file.
func (s *stream) read(p []byte) int {
	n := copy(p, s.out)
	s.out = s.out[n:]
	if len(s.out) == 0 {
		s.out = nil
	}
	s.account()
	return n
}

// streamCall decodes one call, runs it and returns its encoded answer. Like the host
// functions of the imported form it stops a guest killed by the watchdog, and ends the
// replay phase once the engine reaches new ground.
func (i *Instance) streamCall(frame []byte) []byte {
	if i.dog.stopped.Load() {
		panic(errKilled)
	}
	var call []cbor.RawMessage
	if err := cbor.Unmarshal(frame, &call); err != nil || len(call) == 0 {
		i.stopf(abi.CodeBadMessage, "stream: a call must be a CBOR array whose first element is the call number")
	}
	var num uint64
	if err := cbor.Unmarshal(call[0], &num); err != nil || streamCallNames[num] == "" {
		i.stopf(abi.CodeBadMessage, "stream: unknown call number %x", []byte(call[0]))
	}
	name := streamCallNames[num]
	args := call[1:]
	if want := streamCallArgs[num]; len(args) != want {
		i.stopf(abi.CodeBadMessage, "stream: %s takes %d arguments, the call has %d", name, want, len(args))
	}
	var answer any
	switch num {
	case StreamStartInfo:
		answer = cbor.RawMessage(i.startInfoMessage())
	case StreamSchedule:
		answer = i.scheduleCommand(args[0])
	case StreamAwait:
		var hs []uint32
		if err := cbor.Unmarshal(args[0], &hs); err != nil {
			i.stopf(abi.CodeBadMessage, "stream: await takes an array of handles: %v", err)
		}
		handles := make([]int64, len(hs))
		for k, h := range hs {
			handles[k] = int64(h)
		}
		answer = i.awaitHandles(handles)
	case StreamResult:
		h := i.streamHandle(name, args[0])
		b, ok := i.completion(h)
		if !ok {
			answer = abi.StatusNotReady
			break
		}
		i.eng.Release(h)
		answer = cbor.RawMessage(b)
	case StreamCancel:
		i.check(i.engine(name).Cancel(i.streamHandle(name, args[0])))
		answer = abi.StatusOK
	case StreamSetStatus:
		eng := i.engine(name)
		var status []byte
		if err := cbor.Unmarshal(args[0], &status); err != nil {
			i.stopf(abi.CodeBadMessage, "stream: set_status takes a byte string or null: %v", err)
		}
		if len(status) > i.rt.cfg.MaxPayload+64<<10 {
			i.stopf(abi.CodePayloadTooLarge, "set_status: message of %d bytes is more than the limit of %d", len(status), i.rt.cfg.MaxPayload+64<<10)
		}
		if isNull(args[0]) {
			i.check(eng.SetStatus(nil, true))
		} else {
			i.check(eng.SetStatus(append([]byte{}, status...), false))
		}
		answer = abi.StatusOK
	case StreamComplete:
		i.completeWith(args[0])
		answer = abi.StatusOK
	case StreamLog:
		var level int32
		var msg string
		if err := cbor.Unmarshal(args[0], &level); err != nil {
			i.stopf(abi.CodeBadMessage, "stream: log level: %v", err)
		}
		if err := cbor.Unmarshal(args[1], &msg); err != nil {
			i.stopf(abi.CodeBadMessage, "stream: log takes a text string: %v", err)
		}
		i.logLine(level, []byte(msg))
		answer = abi.StatusOK
	case StreamIsReplaying:
		answer = 0
		if i.isReplaying() {
			answer = 1
		}
	}
	b, err := abi.Marshal(answer)
	i.check(err)
	if i.replaying {
		i.checkLive()
	}
	return b
}

// streamHandle decodes a handle argument.
func (i *Instance) streamHandle(fn string, raw cbor.RawMessage) int64 {
	var h uint32
	if err := cbor.Unmarshal(raw, &h); err != nil {
		i.stopf(abi.CodeBadMessage, "stream: %s takes a handle (an unsigned integer below 2^32): %v", fn, err)
	}
	return int64(h)
}

func isNull(raw cbor.RawMessage) bool { return len(raw) == 1 && (raw[0] == 0xf6 || raw[0] == 0xf7) }

// errShortItem: the bytes hold the beginning of a CBOR item, not all of it.
var errShortItem = errors.New("incomplete CBOR item")

// maxCBORDepth bounds the nesting of a call.
const maxCBORDepth = 64

// cborItemLen returns the length of the CBOR data item at the start of b (RFC 8949, definite
// lengths only), errShortItem when b holds only its beginning, or an error naming what is not
// well formed. It does not decode: it frames calls on the stream.
func cborItemLen(b []byte) (int, error) {
	var f framer
	return f.next(b)
}

// framer finds the end of the CBOR data item at the start of a buffer that grows by appends
// (see cborItemLen). After errShortItem it remembers where the item it could not finish
// begins, and next, given the same bytes with more appended, resumes there. The zero framer
// starts at the beginning; a framer is reset (to its zero value) for every new item.
type framer struct {
	pos int
	// pending[k] is how many more items the k-th open container needs.
	pending []uint64
}

// next returns the length of the item at the start of b, errShortItem, or an error.
func (f *framer) next(b []byte) (int, error) {
	if f.pending == nil {
		f.pos, f.pending = 0, []uint64{1}
	}
	pos, pending := f.pos, f.pending
	short := func(start int) (int, error) {
		// Resume at the head of the item that is not all there.
		pending[len(pending)-1]++
		f.pos, f.pending = start, pending
		return 0, errShortItem
	}
	for len(pending) > 0 {
		if pending[len(pending)-1] == 0 {
			pending = pending[:len(pending)-1]
			continue
		}
		pending[len(pending)-1]--
		start := pos
		if pos >= len(b) {
			return short(start)
		}
		major, info := b[pos]>>5, b[pos]&0x1f
		pos++
		var arg uint64
		switch {
		case info < 24:
			arg = uint64(info)
		case info <= 27:
			size := 1 << (info - 24)
			if len(b)-pos < size {
				return short(start)
			}
			switch size {
			case 1:
				arg = uint64(b[pos])
			case 2:
				arg = uint64(binary.BigEndian.Uint16(b[pos:]))
			case 4:
				arg = uint64(binary.BigEndian.Uint32(b[pos:]))
			case 8:
				arg = binary.BigEndian.Uint64(b[pos:])
			}
			pos += size
		case info == 31:
			return 0, fmt.Errorf("indefinite-length CBOR item at byte %d (calls use definite lengths)", pos-1)
		default:
			return 0, fmt.Errorf("malformed CBOR: reserved additional information %d at byte %d", info, pos-1)
		}
		switch major {
		case 2, 3: // byte and text strings
			if arg > uint64(len(b)-pos) {
				return short(start)
			}
			pos += int(arg)
		case 4, 5: // arrays and maps
			if major == 5 {
				if arg > 1<<62 {
					return 0, fmt.Errorf("CBOR map of %d entries", arg)
				}
				arg *= 2
			}
			if len(pending) >= maxCBORDepth {
				return 0, fmt.Errorf("CBOR nested more than %d levels deep", maxCBORDepth)
			}
			pending = append(pending, arg)
		case 6: // a tag: one item follows
			if len(pending) >= maxCBORDepth {
				return 0, fmt.Errorf("CBOR nested more than %d levels deep", maxCBORDepth)
			}
			pending = append(pending, 1)
		}
	}
	return pos, nil
}

// streamFS is the preopened directory StreamDir of one instance: it holds StreamFile, whose
// every opening is a descriptor on the instance's stream.
type streamFS struct {
	experimentalsys.UnimplementedFS
	s     *stream
	files map[string][]byte
}

// fileIno is a bundled file's inode number: a function of its name only.
func fileIno(name string) sys.Inode {
	h := sha256.Sum256([]byte(name))
	return sys.Inode(binary.BigEndian.Uint64(h[:]) | 1<<63)
}

func (f *streamFS) OpenFile(path string, flag experimentalsys.Oflag, _ fs.FileMode) (experimentalsys.File, experimentalsys.Errno) {
	switch path {
	case "", ".", "/":
		return &streamDir{ino: streamDirStat.Ino, entries: f.rootEntries()}, 0
	case StreamFile:
		if flag&experimentalsys.O_DIRECTORY != 0 {
			return nil, experimentalsys.ENOTDIR
		}
		return &streamFile{s: f.s}, 0
	}
	if name, ok := bundledPath(path); ok {
		writing := flag&(experimentalsys.O_WRONLY|experimentalsys.O_RDWR|experimentalsys.O_CREAT|experimentalsys.O_TRUNC) != 0
		if data, ok := f.files[name]; ok {
			if writing {
				return nil, experimentalsys.EROFS
			}
			if flag&experimentalsys.O_DIRECTORY != 0 {
				return nil, experimentalsys.ENOTDIR
			}
			return &bundledFile{data: data, ino: fileIno(name)}, 0
		}
		if entries := f.dirEntries(name); entries != nil {
			if writing {
				return nil, experimentalsys.EISDIR
			}
			return &streamDir{ino: fileIno(name + "/"), entries: entries}, 0
		}
	}
	if flag&experimentalsys.O_CREAT != 0 {
		return nil, experimentalsys.EROFS
	}
	return nil, experimentalsys.ENOENT
}

func (f *streamFS) Stat(path string) (sys.Stat_t, experimentalsys.Errno) {
	switch path {
	case "", ".", "/":
		return streamDirStat, 0
	case StreamFile:
		return streamFileStat, 0
	}
	if name, ok := bundledPath(path); ok {
		if data, ok := f.files[name]; ok {
			return sys.Stat_t{Ino: fileIno(name), Mode: 0o444, Nlink: 1, Size: int64(len(data))}, 0
		}
		if f.dirEntries(name) != nil {
			return sys.Stat_t{Ino: fileIno(name + "/"), Mode: fs.ModeDir | 0o555, Nlink: 1}, 0
		}
	}
	return sys.Stat_t{}, experimentalsys.ENOENT
}

func (f *streamFS) Lstat(path string) (sys.Stat_t, experimentalsys.Errno) { return f.Stat(path) }

// The fixed attributes of the directory and the file: nothing a guest sees of them depends on
// anything but the ABI.
var (
	streamDirStat  = sys.Stat_t{Ino: 1, Mode: fs.ModeDir | 0o555, Nlink: 1}
	streamFileStat = sys.Stat_t{Ino: 2, Mode: fs.ModeDevice | fs.ModeCharDevice | 0o666, Nlink: 1}
)

// bundledPath returns the bundled path a path of StreamDir names ("files" is the root, "").
func bundledPath(path string) (string, bool) {
	if path == "files" {
		return "", true
	}
	return strings.CutPrefix(path, "files/")
}

// rootEntries lists StreamDir: the stream file, and the directory of bundled files if any.
func (f *streamFS) rootEntries() []experimentalsys.Dirent {
	entries := []experimentalsys.Dirent{{Ino: streamFileStat.Ino, Name: StreamFile, Type: streamFileStat.Mode.Type()}}
	if len(f.files) > 0 {
		entries = append(entries, experimentalsys.Dirent{Ino: fileIno("/"), Name: "files", Type: fs.ModeDir})
	}
	return entries
}

// dirEntries lists the bundled directory dir ("" for the root of the bundled files), nil when
// no bundled file lies under it. Entries are sorted by name.
func (f *streamFS) dirEntries(dir string) []experimentalsys.Dirent {
	prefix := dir + "/"
	if dir == "" {
		prefix = ""
	}
	seen := map[string]bool{}
	var entries []experimentalsys.Dirent
	for name := range f.files {
		rest, ok := strings.CutPrefix(name, prefix)
		if !ok {
			continue
		}
		child, _, sub := strings.Cut(rest, "/")
		if seen[child] {
			continue
		}
		seen[child] = true
		e := experimentalsys.Dirent{Ino: fileIno(prefix + child), Name: child}
		if sub {
			e.Ino, e.Type = fileIno(prefix+child+"/"), fs.ModeDir
		}
		entries = append(entries, e)
	}
	slices.SortFunc(entries, func(a, b experimentalsys.Dirent) int { return strings.Compare(a.Name, b.Name) })
	return entries
}

// streamDir is an open directory of StreamDir: itself or a directory of bundled files.
type streamDir struct {
	experimentalsys.UnimplementedFile
	ino     sys.Inode
	entries []experimentalsys.Dirent
	pos     int
}

func (*streamDir) IsDir() (bool, experimentalsys.Errno)      { return true, 0 }
func (d *streamDir) Ino() (sys.Inode, experimentalsys.Errno) { return d.ino, 0 }
func (d *streamDir) Stat() (sys.Stat_t, experimentalsys.Errno) {
	return sys.Stat_t{Ino: d.ino, Mode: fs.ModeDir | 0o555, Nlink: 1}, 0
}

// Readdir returns the next n entries (fewer at the end).
func (d *streamDir) Readdir(n int) ([]experimentalsys.Dirent, experimentalsys.Errno) {
	end := min(d.pos+max(n, 0), len(d.entries))
	out := d.entries[d.pos:end]
	d.pos = end
	return out, 0
}

type streamFile struct {
	experimentalsys.UnimplementedFile
	s *stream
}

func (*streamFile) IsDir() (bool, experimentalsys.Errno)    { return false, 0 }
func (*streamFile) Ino() (sys.Inode, experimentalsys.Errno) { return streamFileStat.Ino, 0 }
func (*streamFile) Stat() (sys.Stat_t, experimentalsys.Errno) {
	return streamFileStat, 0
}
func (*streamFile) IsAppend() bool                       { return false }
func (*streamFile) SetAppend(bool) experimentalsys.Errno { return 0 }
func (*streamFile) Sync() experimentalsys.Errno          { return 0 }
func (*streamFile) Datasync() experimentalsys.Errno      { return 0 }

func (f *streamFile) Write(p []byte) (int, experimentalsys.Errno) {
	f.s.write(p)
	return len(p), 0
}

func (f *streamFile) Read(p []byte) (int, experimentalsys.Errno) { return f.s.read(p), 0 }

// streamFS returns the filesystem of a stream-form instance: StreamDir, preopened.
func (i *Instance) streamFS() wazero.FSConfig {
	i.stream = &stream{inst: i}
	return wazero.NewFSConfig().(sysfs.FSConfig).WithSysFSMount(&streamFS{s: i.stream, files: i.module.files}, StreamDir)
}

// StreamFilesSection names the custom section in which a stream-form module bundles read-only
// files (an interpreter's scripts): a CBOR map of relative paths to byte strings, which the
// guest reads as StreamDir/files/<path>.
const StreamFilesSection = abi.StreamFilesSection

// maxBundledFiles bounds the files of a module.
const maxBundledFiles = 10000

// bundledFilesDecoder decodes StreamFilesSection: a path named twice is an error, not the
// last of its contents silently (another reader of the module could take the first).
var bundledFilesDecoder = func() cbor.DecMode {
	d, err := cbor.DecOptions{DupMapKey: cbor.DupMapKeyEnforcedAPF}.DecMode()
	if err != nil {
		panic(err)
	}
	return d
}()

// bundledFiles decodes the files a stream-form module bundles (nil when it bundles none).
func bundledFiles(wasm []byte, l *wasmopt.Module) (map[string][]byte, error) {
	var files map[string][]byte
	for _, c := range l.Custom {
		if c.Name != StreamFilesSection {
			continue
		}
		if files != nil {
			return nil, fmt.Errorf("%w: more than one %s section", ErrInvalidModule, StreamFilesSection)
		}
		if err := bundledFilesDecoder.Unmarshal(wasm[c.Body:c.End], &files); err != nil {
			return nil, fmt.Errorf("%w: section %s is not a CBOR map of paths to byte strings: %v", ErrInvalidModule, StreamFilesSection, err)
		}
		if len(files) > maxBundledFiles {
			return nil, fmt.Errorf("%w: section %s holds %d files, more than %d", ErrInvalidModule, StreamFilesSection, len(files), maxBundledFiles)
		}
		for name := range files {
			if !fs.ValidPath(name) || name == "." {
				return nil, fmt.Errorf("%w: section %s holds a file named %q (paths are relative, slash-separated, without . or .. elements)", ErrInvalidModule, StreamFilesSection, truncate(name, 64))
			}
			for dir := name; ; {
				k := strings.LastIndexByte(dir, '/')
				if k < 0 {
					break
				}
				dir = dir[:k]
				if _, ok := files[dir]; ok {
					return nil, fmt.Errorf("%w: section %s holds %q both as a file and as the directory of %q", ErrInvalidModule, StreamFilesSection, truncate(dir, 64), truncate(name, 64))
				}
			}
		}
		if files == nil {
			files = map[string][]byte{}
		}
	}
	return files, nil
}

// streamReactor tells whether a stream-form module is a WASI reactor (entry durohost_run, an
// _initialize, no start section) whose initialised state a snapshot stands for: ABI.md
// requires such a module not to change its tables once initialised.
func (f moduleForm) streamReactor(l *wasmopt.Module) bool {
	if !f.stream || f.entry != abi.ExportRun || l.HasStart {
		return false
	}
	for _, e := range l.ExportedFuncs() {
		if e.Name == abi.ExportInitialize {
			return true
		}
	}
	return false
}

// bundledFile is an open read-only bundled file.
type bundledFile struct {
	experimentalsys.UnimplementedFile
	data []byte
	off  int
	ino  sys.Inode
}

func (*bundledFile) IsDir() (bool, experimentalsys.Errno)      { return false, 0 }
func (f *bundledFile) Ino() (sys.Inode, experimentalsys.Errno) { return f.ino, 0 }
func (f *bundledFile) Stat() (sys.Stat_t, experimentalsys.Errno) {
	return sys.Stat_t{Ino: f.ino, Mode: 0o444, Nlink: 1, Size: int64(len(f.data))}, 0
}

func (f *bundledFile) Read(p []byte) (int, experimentalsys.Errno) {
	n := copy(p, f.data[f.off:])
	f.off += n
	return n, 0
}

func (f *bundledFile) Pread(p []byte, off int64) (int, experimentalsys.Errno) {
	if off < 0 {
		return 0, experimentalsys.EINVAL
	}
	if off >= int64(len(f.data)) {
		return 0, 0
	}
	return copy(p, f.data[off:]), 0
}
