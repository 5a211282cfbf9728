package modules

import (
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// diskCache keeps the compiled code of modules on disk, a directory per module (named by its
// hash) holding what wazero's compilation cache writes for it. Directories are removed least
// recently used first while the cache holds more than its budget, and at once for a module
// that was refused or forgotten. Everything in it can be deleted at any time: a module whose
// code is gone is compiled again.
type diskCache struct {
	dir    string
	budget int64
	log    *slog.Logger

	mu sync.Mutex
}

func openDiskCache(dir string, budget int64, log *slog.Logger) (*diskCache, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("compilation cache: %w", err)
	}
	d := &diskCache{dir: dir, budget: budget, log: log}
	// Earlier versions kept one wazero cache for every module in the directory itself:
	// its files are never read again.
	if old, err := filepath.Glob(filepath.Join(dir, "wazero-*")); err == nil {
		for _, p := range old {
			d.removeAll(p)
		}
	}
	d.trim()
	return d, nil
}

// path returns the directory of a module's compiled code.
func (d *diskCache) path(hash string) string { return filepath.Join(d.dir, hash) }

// used marks a module's code as used now, and trims the cache to its budget.
func (d *diskCache) used(hash string) {
	d.touch(hash)
	d.trim()
}

// touch marks a module's code as used now (it was compiled or loaded, or leaves memory after
// being used).
func (d *diskCache) touch(hash string) {
	now := time.Now()
	os.Chtimes(d.path(hash), now, now)
}

// remove deletes a module's code.
func (d *diskCache) remove(hash string) { d.removeAll(d.path(hash)) }

func (d *diskCache) removeAll(p string) {
	if err := os.RemoveAll(p); err != nil {
		d.log.Warn("compilation cache: cannot remove a directory", "path", p, "err", err)
	}
}

// trim removes the least recently used module directories while the cache holds more than
// its budget.
func (d *diskCache) trim() {
	if d.budget <= 0 {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	ents, err := os.ReadDir(d.dir)
	if err != nil {
		return
	}
	type module struct {
		path string
		used time.Time
		size int64
	}
	var mods []module
	var total int64
	for _, e := range ents {
		if !e.IsDir() || !validHash(e.Name()) {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue
		}
		p := filepath.Join(d.dir, e.Name())
		size := dirSize(p)
		mods = append(mods, module{path: p, used: info.ModTime(), size: size})
		total += size
	}
	if total <= d.budget {
		return
	}
	slices.SortFunc(mods, func(a, b module) int { return a.used.Compare(b.used) })
	for _, m := range mods {
		if total <= d.budget {
			break
		}
		d.removeAll(m.path)
		total -= m.size
	}
}

// dirSize returns the bytes of the regular files under p (temporary files of a write in
// progress included).
func dirSize(p string) int64 {
	var n int64
	filepath.WalkDir(p, func(path string, e fs.DirEntry, err error) error {
		if err == nil && e.Type().IsRegular() && !strings.HasPrefix(e.Name(), ".") {
			if info, err := e.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}
