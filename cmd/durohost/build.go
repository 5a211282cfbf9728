package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// guestBuilder compiles Go guest packages to WebAssembly modules with the local Go toolchain,
// caching each build under a key that changes whenever its inputs do.
type guestBuilder struct {
	// cacheDir holds the built modules (in its "guests" subdirectory).
	cacheDir string
	// log receives the "compiling ..." notices.
	log io.Writer
}

func init() {
	registerLanguage(&sourceLanguage{
		name:       "go",
		marker:     "Go files of a main package",
		detect:     hasGoFiles,
		build:      (*guestBuilder).build,
		benchGuest: benchGuest,
	})
}

// buildKeyVersion changes when the way modules are built changes, invalidating old builds.
const buildKeyVersion = "durohost-go-guest-1"

// listedPackage is the part of `go list -json` a build key needs.
type listedPackage struct {
	Dir        string
	ImportPath string
	Name       string
	Standard   bool
	GoFiles    []string
	EmbedFiles []string
}

// guestPlan is how to build one guest package, and where its build is cached.
type guestPlan struct {
	dir, goTool, root, pkg string
	env                    []string
	// cached is the cache file of the build.
	cached string
}

// plan checks that dir is a Go main package and computes the cache file of its build.
func (b *guestBuilder) plan(ctx context.Context, dir string) (*guestPlan, error) {
	if !hasGoFiles(dir) {
		return nil, fmt.Errorf("%s is a directory without Go files, not a Go package: give a .wasm file or the directory of a Go guest package", dir)
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		return nil, fmt.Errorf("%s is a Go package; compiling it needs the Go toolchain (go) in PATH: %v", dir, err)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	root, err := moduleRoot(abs)
	if err != nil {
		return nil, err
	}
	rel, err := filepath.Rel(root, abs)
	if err != nil {
		return nil, err
	}
	p := &guestPlan{dir: dir, goTool: goTool, root: root, pkg: "./" + filepath.ToSlash(rel),
		env: append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")}
	key, err := buildKey(ctx, p)
	if err != nil {
		return nil, err
	}
	p.cached = filepath.Join(b.cacheDir, "guests", key+".wasm")
	return p, nil
}

// build returns the module compiled from the Go package in dir, from the cache when its
// sources, go.mod/go.sum and the Go version are unchanged.
func (b *guestBuilder) build(ctx context.Context, dir string) ([]byte, error) {
	p, err := b.plan(ctx, dir)
	if err != nil {
		return nil, err
	}
	if wasm, err := os.ReadFile(p.cached); err == nil {
		return wasm, nil
	}

	fmt.Fprintf(b.log, "compiling Go package %s to WebAssembly (GOOS=wasip1 GOARCH=wasm; the first build on a machine takes about 30 s)\n", dir)
	start := time.Now()
	cacheDir := filepath.Dir(p.cached)
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return nil, fmt.Errorf("build cache: %v", err)
	}
	tmp, err := os.CreateTemp(cacheDir, filepath.Base(p.cached)+".*.tmp")
	if err != nil {
		return nil, fmt.Errorf("build cache: %v", err)
	}
	tmp.Close()
	defer os.Remove(tmp.Name())
	cmd := exec.CommandContext(ctx, p.goTool, "build", "-buildmode=c-shared", "-trimpath", "-o", tmp.Name(), p.pkg)
	cmd.Dir, cmd.Env = p.root, p.env
	if out, err := cmd.CombinedOutput(); err != nil {
		msg := strings.TrimSpace(string(out))
		if msg == "" {
			msg = err.Error()
		}
		return nil, fmt.Errorf("compile %s:\n%s", dir, msg)
	}
	wasm, err := os.ReadFile(tmp.Name())
	if err != nil {
		return nil, err
	}
	// Rename makes the cache entry appear whole: a concurrent run reads either nothing or it.
	if err := os.Rename(tmp.Name(), p.cached); err != nil {
		return nil, fmt.Errorf("build cache: %v", err)
	}
	fmt.Fprintf(b.log, "compiled in %s (%d KiB, cached)\n", time.Since(start).Round(100*time.Millisecond), len(wasm)>>10)
	return wasm, nil
}

// hasGoFiles reports whether dir holds at least one .go file.
func hasGoFiles(dir string) bool {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, e := range ents {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".go") {
			return true
		}
	}
	return false
}

// moduleRoot returns the nearest directory at or above dir that holds a go.mod.
func moduleRoot(dir string) (string, error) {
	for d := dir; ; {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", fmt.Errorf("%s is not inside a Go module (no go.mod above it): a Go guest package needs one that requires github.com/durohost/durohost", dir)
		}
		d = parent
	}
}

// buildKey hashes what a build depends on: the Go version, go.mod and go.sum, and the files
// of every non-standard package the guest imports that lives outside the module cache (the
// guest's own module, workspace modules, local replacements). Packages in the module cache
// are immutable and identified by go.sum.
func buildKey(ctx context.Context, p *guestPlan) (string, error) {
	out, err := goCommand(ctx, p.goTool, p.root, p.env, "env", "GOVERSION", "GOMODCACHE", "GOFLAGS")
	if err != nil {
		return "", err
	}
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	modCache := ""
	if len(lines) > 1 {
		modCache = lines[1]
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%s\n", buildKeyVersion, out)
	for _, f := range []string{"go.mod", "go.sum", "go.work", "go.work.sum"} {
		hashFile(h, p.root, f)
	}

	listed, err := goCommand(ctx, p.goTool, p.root, p.env, "list", "-deps", "-json=Dir,ImportPath,Name,Standard,GoFiles,EmbedFiles", p.pkg)
	if err != nil {
		return "", fmt.Errorf("%s is not a Go package that builds for wasip1: %s", p.dir, firstLine(err.Error()))
	}
	dec := json.NewDecoder(strings.NewReader(listed))
	var last listedPackage
	for {
		var lp listedPackage
		if err := dec.Decode(&lp); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return "", fmt.Errorf("go list %s: %v", p.pkg, err)
		}
		last = lp
		fmt.Fprintf(h, "pkg %s\n", lp.ImportPath)
		if lp.Standard || (modCache != "" && strings.HasPrefix(lp.Dir, modCache+string(filepath.Separator))) {
			continue
		}
		files := slices.Concat(lp.GoFiles, lp.EmbedFiles)
		slices.Sort(files)
		for _, f := range files {
			hashFile(h, lp.Dir, f)
		}
	}
	if last.Name != "main" {
		return "", fmt.Errorf("%s holds package %s, not a main package: a Go guest module is a main package whose init registers its orchestrations (see wasm-examples/go)", p.dir, last.Name)
	}
	return hex.EncodeToString(h.Sum(nil))[:32], nil
}

// firstLine returns the first line of s, saying how many more there were.
func firstLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) == 1 {
		return lines[0]
	}
	return fmt.Sprintf("%s (and %d more lines)", strings.TrimSpace(lines[0]), len(lines)-1)
}

// hashFile writes the name and contents of dir/name (or its absence) to h.
func hashFile(h io.Writer, dir, name string) {
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		fmt.Fprintf(h, "file %s absent\n", name)
		return
	}
	fmt.Fprintf(h, "file %s %d\n", name, len(b))
	h.Write(b)
}

// goCommand runs the go tool and returns its standard output; an error carries its standard
// error.
func goCommand(ctx context.Context, goTool, dir string, env []string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, goTool, args...)
	var stdout, stderr bytes.Buffer
	cmd.Dir, cmd.Env, cmd.Stdout, cmd.Stderr = dir, env, &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = err.Error()
		}
		return "", errors.New(msg)
	}
	return stdout.String(), nil
}
