package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/durohost/durohost/guest-sdk/c/csdk"
)

func init() {
	registerLanguage(&sourceLanguage{
		name:       "c",
		marker:     "C files or a Makefile",
		detect:     isCProject,
		build:      (*guestBuilder).buildC,
		benchGuest: "guest-sdk/c/bench",
	})
}

// cBuildKeyVersion changes when the way C modules are built changes, invalidating old builds.
const cBuildKeyVersion = "durohost-c-guest-1"

// cFlags are the compiler flags of a C project without a Makefile (the SDK's README gives
// the same command).
var cFlags = []string{"--target=wasm32-wasi", "-std=c11", "-Os", "-Wall", "-Wextra", "-mexec-model=reactor",
	"-ffile-prefix-map=.=.", "-Wl,--strip-all", "-Wl,-z,stack-size=32768", "-Wl,--stack-first"}

// makefiles are the names under which make finds a Makefile.
var makefiles = []string{"GNUmakefile", "makefile", "Makefile"}

// cToolchainHint says what a C guest build needs.
const cToolchainHint = "clang and lld with the wasm32-wasi target and wasi-libc (Debian: clang lld wasi-libc libclang-rt-dev-wasm32)"

// isCProject reports whether dir holds C files or a Makefile, and no marker of a project of
// another language: a Makefile also drives the builds of Rust or AssemblyScript projects, and
// a Rust crate, a Go package or a Python or JavaScript project may carry a C file (a shim, an
// extension's source) without being a C project.
func isCProject(dir string) bool {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	c, other := false, false
	for _, e := range ents {
		if e.IsDir() {
			continue
		}
		switch n := e.Name(); {
		case strings.HasSuffix(n, ".c"), slices.Contains(makefiles, n):
			c = true
		case n == "Cargo.toml", n == "package.json", n == "main.js", n == "main.py", strings.HasSuffix(n, ".go"):
			other = true
		}
	}
	return c && !other
}

// buildC returns the module built from the C project in dir, from the cache when its files,
// the SDK and the compiler are unchanged. A directory with a Makefile is built with
// `make DUROHOST_SDK=<the SDK's directory> OUT=<module path>`: the Makefile must write the
// module to $(OUT). Without a Makefile every .c file of the directory is compiled with the
// SDK into one module.
func (b *guestBuilder) buildC(ctx context.Context, dir string) ([]byte, error) {
	if !isCProject(dir) {
		return nil, fmt.Errorf("%s holds neither C files nor a Makefile (or also another language's project): give a .wasm file or a C project directory", dir)
	}
	clang, err := exec.LookPath("clang")
	if err != nil {
		return nil, fmt.Errorf("%s is a C project; compiling it needs %s: %v", dir, cToolchainHint, err)
	}
	makefile := ""
	for _, n := range makefiles {
		if fi, err := os.Stat(filepath.Join(dir, n)); err == nil && !fi.IsDir() {
			makefile = n
			break
		}
	}
	makeTool := ""
	if makefile != "" {
		if makeTool, err = exec.LookPath("make"); err != nil {
			return nil, fmt.Errorf("%s has a %s; building it needs make: %v", dir, makefile, err)
		}
	}
	toolchain, err := cToolchainKey(ctx, clang)
	if err != nil {
		return nil, err
	}
	sdk, err := b.cSDK()
	if err != nil {
		return nil, err
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%s\n%s\n", cBuildKeyVersion, toolchain, strings.Join(cFlags, " "))
	io.WriteString(h, csdk.Header)
	io.WriteString(h, csdk.Source)
	files, err := hashCTree(h, dir)
	if err != nil {
		return nil, err
	}
	cached := filepath.Join(b.cacheDir, "guests", hex.EncodeToString(h.Sum(nil))[:32]+".wasm")
	if wasm, err := os.ReadFile(cached); err == nil {
		return wasm, nil
	}

	fmt.Fprintf(b.log, "compiling C project %s to WebAssembly (wasm32-wasi)\n", dir)
	start := time.Now()
	if err := os.MkdirAll(filepath.Dir(cached), 0o755); err != nil {
		return nil, fmt.Errorf("build cache: %v", err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(cached), "c-build-*")
	if err != nil {
		return nil, fmt.Errorf("build cache: %v", err)
	}
	defer os.RemoveAll(tmp)
	out := filepath.Join(tmp, "module.wasm")
	var cmd *exec.Cmd
	if makefile != "" {
		cmd = exec.CommandContext(ctx, makeTool, "--no-print-directory", "DUROHOST_SDK="+sdk, "OUT="+out)
	} else {
		args := append(slices.Clone(cFlags), "-I", sdk, "-o", out)
		for _, f := range files {
			args = append(args, "./"+f) // a name starting with "-" is a file, not an option
		}
		if !slices.Contains(files, "durohost.c") {
			args = append(args, filepath.Join(sdk, "durohost.c"))
		}
		cmd = exec.CommandContext(ctx, clang, args...)
	}
	cmd.Dir = dir
	if msg, err := cmd.CombinedOutput(); err != nil {
		text := strings.TrimSpace(string(msg))
		if text == "" {
			text = err.Error()
		}
		if cToolchainIncomplete(text) {
			return nil, fmt.Errorf("compile %s: the C toolchain is incomplete; a C guest build needs %s:\n%s", dir, cToolchainHint, text)
		}
		return nil, fmt.Errorf("compile %s:\n%s", dir, text)
	}
	wasm, err := os.ReadFile(out)
	switch {
	case errors.Is(err, fs.ErrNotExist) && makefile != "":
		return nil, fmt.Errorf("compile %s: make succeeded but wrote no module to $(OUT): its %s must build the module at the path make's variable OUT gives", dir, makefile)
	case err != nil:
		return nil, err
	}
	// Rename makes the cache entry appear whole: a concurrent run reads either nothing or it.
	if err := os.Rename(out, cached); err != nil {
		return nil, fmt.Errorf("build cache: %v", err)
	}
	fmt.Fprintf(b.log, "compiled in %s (%d KiB, cached)\n", time.Since(start).Round(100*time.Millisecond), len(wasm)>>10)
	return wasm, nil
}

// cToolchainIncomplete reports whether a failed build's output says the toolchain lacks a
// part (wasi-libc's headers, which the SDK's own files include; wasm-ld; the wasm32 runtime
// library) rather than that the code is wrong: clang's messages do not name the packages.
func cToolchainIncomplete(out string) bool {
	for _, line := range strings.Split(out, "\n") {
		sdk := strings.Contains(line, "durohost.c:") || strings.Contains(line, "durohost.h:")
		switch {
		case sdk && strings.Contains(line, "fatal error:") && strings.Contains(line, "file not found"),
			strings.Contains(line, "wasm-ld") && (strings.Contains(line, "doesn't exist") || strings.Contains(line, "not found")),
			strings.Contains(line, "libclang_rt.builtins-wasm32"),
			strings.Contains(line, "crt1-reactor.o"):
			return true
		}
	}
	return false
}

// cToolchainKey identifies the compiler and what it links a module with: clang's version, and
// the path, size and modification time of the wasm32-wasi sysroot's libc, which a wasi-libc
// upgrade changes without changing clang (and with it the modules, their libc code linked in).
func cToolchainKey(ctx context.Context, clang string) (string, error) {
	version, err := exec.CommandContext(ctx, clang, "--version").Output()
	if err != nil {
		return "", fmt.Errorf("%s --version: %v", clang, err)
	}
	key := string(version)
	// Without a sysroot clang prints the bare name; the build then fails, naming what is missing.
	if out, err := exec.CommandContext(ctx, clang, "--target=wasm32-wasi", "-print-file-name=libc.a").Output(); err == nil {
		if libc := strings.TrimSpace(string(out)); filepath.IsAbs(libc) {
			if fi, err := os.Stat(libc); err == nil {
				key += fmt.Sprintf("libc %s %d %d\n", libc, fi.Size(), fi.ModTime().UnixNano())
			}
		}
	}
	return key, nil
}

// cSDK writes the embedded C SDK to the cache (once per content) and returns its directory.
func (b *guestBuilder) cSDK() (string, error) {
	sum := sha256.New()
	io.WriteString(sum, csdk.Header)
	io.WriteString(sum, csdk.Source)
	dir := filepath.Join(b.cacheDir, "c-sdk", hex.EncodeToString(sum.Sum(nil))[:16])
	if _, err := os.Stat(filepath.Join(dir, "durohost.c")); err == nil {
		return dir, nil
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return "", fmt.Errorf("build cache: %v", err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), "tmp-*")
	if err != nil {
		return "", fmt.Errorf("build cache: %v", err)
	}
	defer os.RemoveAll(tmp)
	if err := os.WriteFile(filepath.Join(tmp, "durohost.h"), []byte(csdk.Header), 0o644); err != nil {
		return "", fmt.Errorf("build cache: %v", err)
	}
	if err := os.WriteFile(filepath.Join(tmp, "durohost.c"), []byte(csdk.Source), 0o644); err != nil {
		return "", fmt.Errorf("build cache: %v", err)
	}
	// A concurrent run may have written the same directory first: either copy will do.
	if err := os.Rename(tmp, dir); err != nil {
		if _, serr := os.Stat(filepath.Join(dir, "durohost.c")); serr != nil {
			return "", fmt.Errorf("build cache: %v", err)
		}
	}
	return dir, nil
}

// hashCTree writes the name and contents of every source file under dir to h (skipping
// hidden entries and build outputs: .wasm and object files; following symbolic links to
// files) and returns the names of the .c files directly in dir, sorted.
func hashCTree(h interface{ Write([]byte) (int, error) }, dir string) ([]string, error) {
	var cfiles []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if path != dir && strings.HasPrefix(name, ".") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		if !d.Type().IsRegular() {
			// A symbolic link to a file is the file (sources shared between projects are
			// often linked): hash and compile what it points to. Links to directories are
			// not followed (they could loop).
			fi, err := os.Stat(path)
			if err != nil || !fi.Mode().IsRegular() {
				return nil
			}
		}
		switch filepath.Ext(name) {
		case ".wasm", ".o", ".a", ".tmp":
			return nil
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		hashFile(h, dir, rel)
		if filepath.Ext(name) == ".c" && filepath.Dir(rel) == "." {
			cfiles = append(cfiles, rel)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read C project %s: %v", dir, err)
	}
	slices.Sort(cfiles)
	return cfiles, nil
}
