package sandbox

import (
	"crypto/sha256"
	"encoding/binary"
	"math/rand/v2"

	"github.com/tetratelabs/wazero/api"
)

// The Go runtime's generator. A Go guest's math/rand, math/rand/v2 top-level functions and map
// iteration order draw from the runtime's per-thread ChaCha8 generator (runtime.rand), which the
// runtime seeds once, while it initialises, from the first 32 random bytes it reads. During
// initialisation a guest sees no instance (ABI.md, "Initialisation"): every instance of a module
// would then draw the same numbers, instance after instance. So, after initialisation (or a
// snapshot's restore), the host re-seeds that generator for the instance: it finds the
// generator's state in the initialised memory once per module (seedState), and writes there
// a seed derived from the instance and execution, with the state marked used up, so that the
// next draw refills from the new seed. The numbers stay a function of the instance and of
// history: deterministic on replay, different between instances. See RATIONALE.md, "Why does
// the host re-seed the Go runtime's generator?".
//
// The state is found by value, not by layout: the runtime's ChaCha8 state holds its seed, a
// value derived from the 32 bytes initialisation read, which the host knows. The generator of
// the runtime's only thread (m0) is seeded with 4 numbers drawn from a global generator keyed
// by those bytes, after a few drawn for other uses, and reseeds itself every 124 numbers; the
// host derives the seeds it may hold (every offset among the first global draws, every reseed
// over the first draws of its life) and looks for one followed by a consistent state (draw
// index, block size, counter) that was used. A module whose memory holds no such state, or
// more than one, is left alone.

const (
	// chachaSeed is the size of the ChaCha8 state's seed (its buffer precedes it; the draw
	// index, block size and counter, uint32 each, follow it).
	chachaSeed = 32
	// randOffsets is how many global draws may precede the thread generator's seed.
	randOffsets = 64
	// randReseeds is how many reseeds of the thread generator are looked for (124 draws each).
	randReseeds = 256
	// drawsPerSeed: draws between the reseeds of Go's ChaCha8 generator.
	drawsPerSeed = 124
)

// seedState returns the address of the seed of the Go runtime's thread generator in mem, the
// memory of an instance that has just initialised after reading initSeed as its first random
// bytes; ok false when it is not found exactly once.
func seedState(mem []byte, initSeed [32]byte) (addr uint32, ok bool) {
	global := rand.NewChaCha8(initSeed)
	draws := make([]uint64, randOffsets+4)
	for i := range draws {
		draws[i] = global.Uint64()
	}
	type origin struct{ reseeds int }
	seeds := make(map[[32]byte]origin, randOffsets*randReseeds)
	for off := range randOffsets {
		var s [32]byte
		for k := range 4 {
			binary.LittleEndian.PutUint64(s[k*8:], draws[off+k])
		}
		g := rand.NewChaCha8(s)
		seeds[s] = origin{0}
		g.Uint64() // the first reseed comes with the 125th draw, the next ones every 124
		for r := 1; r <= randReseeds; r++ {
			for range drawsPerSeed {
				g.Uint64()
			}
			s = chachaSeedOf(g)
			seeds[s] = origin{r}
		}
	}
	found := 0
	for p := 0; p+chachaSeed+12 <= len(mem); p += 8 {
		var s [32]byte
		copy(s[:], mem[p:p+chachaSeed])
		o, hit := seeds[s]
		if !hit {
			continue
		}
		i := binary.LittleEndian.Uint32(mem[p+32:])
		n := binary.LittleEndian.Uint32(mem[p+36:])
		c := binary.LittleEndian.Uint32(mem[p+40:])
		consistent := (n == 32 || n == 28) && i <= n && c%4 == 0 && c < 16
		used := i > 0 || o.reseeds > 0
		if consistent && used {
			addr, found = uint32(p), found+1
		}
	}
	return addr, found == 1
}

// chachaSeedOf returns the seed a ChaCha8 generator holds now (its marshalled form holds it
// after a tag and a count).
func chachaSeedOf(g *rand.ChaCha8) [32]byte {
	b, _ := g.MarshalBinary()
	var s [32]byte
	copy(s[:], b[16:48])
	return s
}

// reseed writes the instance's seed over the generator state at addr in mem and marks the
// state's buffer used up (draw index = block size) with a zero counter, so that the next draw
// computes a block from the new seed (and not a reseed from the old block).
func reseed(mem []byte, addr uint32, instanceID string, execution uint32) bool {
	if int(addr)+chachaSeed+12 > len(mem) {
		return false
	}
	h := sha256.New()
	h.Write([]byte("durohost/v1/runtime-random"))
	h.Write([]byte(instanceID))
	var e [5]byte
	binary.BigEndian.PutUint32(e[1:], execution)
	h.Write(e[:])
	copy(mem[addr:addr+chachaSeed], h.Sum(nil))
	n := binary.LittleEndian.Uint32(mem[addr+36:])
	binary.LittleEndian.PutUint32(mem[addr+32:], n)
	binary.LittleEndian.PutUint32(mem[addr+40:], 0)
	return true
}

// findGoRand looks for the Go runtime's generator in the memory of mod, the describing instance
// just initialised after reading first as its first random bytes.
func (m *Module) findGoRand(mod api.Module, first []byte) {
	mem := mod.Memory()
	if mem == nil || len(first) != 32 {
		return
	}
	view, ok := mem.Read(0, mem.Size())
	if !ok {
		return
	}
	m.goRandAt, m.goRand = seedState(view, [32]byte(first))
}

// reseedGoRand gives the Go runtime's generator of a new instance its own seed.
func (m *Module) reseedGoRand(mod api.Module, instanceID string, execution uint32) {
	mem := mod.Memory()
	view, ok := mem.Read(0, mem.Size())
	if ok {
		reseed(view, m.goRandAt, instanceID, execution)
	}
}
