package sandbox

import (
	"fmt"

	"github.com/tetratelabs/wazero/api"
)

// Snapshots. A Go guest spends most of its instantiation initialising the Go runtime and its
// packages (_initialize), and every instance of a module does exactly the same work: during
// initialisation a guest sees no instance (clocks read the Unix epoch, random bytes come from
// a source keyed by nothing, see ABI.md "Initialisation"). So the host initialises one
// instance when it loads the module, keeps its state (the whole memory, as a copy-on-write
// image, and the mutable globals, which the compiled module exports for this, see
// wasmopt.ExportGlobals), and starts every other instance from that state instead of running
// _initialize again. The instance's own clocks and random source apply from its first call on.
// See RATIONALE.md, "Why start instances from a snapshot?".

// snapshot is an initialised instance's state, but for the memory, which is Module.image.
type snapshot struct {
	pages   uint32 // memory size, in WebAssembly pages
	globals []savedGlobal
}

type savedGlobal struct {
	name  string // its export name
	value uint64
}

// takeSnapshot records the state of inst, an instance of m that has run its initialisation
// and nothing else, as the state m's instances start from. It does nothing for a module whose
// globals are not exported or whose memory is not an image (they initialise each instance).
func (m *Module) takeSnapshot(inst *Instance) error {
	if m.snap != nil || m.globals == nil || m.image == nil {
		return nil
	}
	mem := inst.mod.Memory()
	if mem == nil {
		return nil
	}
	size := mem.Size()
	view, ok := mem.Read(0, size)
	if !ok {
		return fmt.Errorf("snapshot: cannot read %d bytes of memory", size)
	}
	s := &snapshot{pages: size / 65536}
	for _, name := range m.globals {
		g := inst.mod.ExportedGlobal(name)
		if g == nil {
			return fmt.Errorf("snapshot: global %s is not exported", name)
		}
		s.globals = append(s.globals, savedGlobal{name, g.Get()})
	}
	// The instance does not run while its memory is written to the image (describe runs it
	// afterwards), so the memory is read in place, not copied.
	img, err := newSnapshotImage(view)
	if err != nil {
		return err
	}
	m.image.close()
	m.image, m.snap = img, s
	return nil
}

// restore puts the snapshot's state in mod, a new instance started from the snapshot's memory
// image without its initialisation.
func (s *snapshot) restore(mod api.Module) error {
	mem := mod.Memory()
	if cur := mem.Size() / 65536; cur < s.pages {
		if _, ok := mem.Grow(s.pages - cur); !ok {
			return fmt.Errorf("restore snapshot: cannot grow memory from %d to %d pages", cur, s.pages)
		}
	}
	for _, sg := range s.globals {
		g, ok := mod.ExportedGlobal(sg.name).(api.MutableGlobal)
		if !ok {
			return fmt.Errorf("restore snapshot: global %s is not a mutable export", sg.name)
		}
		g.Set(sg.value)
	}
	return nil
}
