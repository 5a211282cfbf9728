package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

func init() {
	registerLanguage(&sourceLanguage{
		name:       "rust",
		marker:     "a Cargo.toml",
		detect:     isRustProject,
		build:      (*guestBuilder).buildRust,
		benchGuest: "internal/bench/guest-rust",
	})
}

// rustBuildKeyVersion changes when the way Rust modules are built changes, invalidating old
// builds.
const rustBuildKeyVersion = "durohost-rust-guest-2"

// rustTarget is the target Rust guests are compiled for: no WASI needed (see RATIONALE.md).
const rustTarget = "wasm32-unknown-unknown"

// rustFlags are passed to rustc for every crate of a Rust guest: a 32 KiB stack instead of
// rustc's 1 MiB, so that an instance's memory starts small (the flags of
// guest-sdk/rust/build-wasm.sh).
const rustFlags = "-C link-arg=-zstack-size=32768"

// rustToolchainHint says what a Rust guest build needs.
const rustToolchainHint = "cargo and a rustc with the " + rustTarget + " standard library (Debian: apt-get install rustc cargo libstd-rust-dev-wasm32; a rustup toolchain needs `rustup target add " + rustTarget + "`)"

// isRustProject reports whether dir holds a Cargo.toml.
func isRustProject(dir string) bool {
	fi, err := os.Stat(filepath.Join(dir, "Cargo.toml"))
	return err == nil && !fi.IsDir()
}

// rustToolchain is the cargo and rustc a Rust guest is built with.
type rustToolchain struct {
	cargo, rustc string
	// version identifies both (their -vV output), for the build key.
	version string
}

// findRustToolchain finds a rustc that has the wasm32-unknown-unknown standard library, and a
// cargo. $DUROHOST_RUSTC and $DUROHOST_CARGO name them explicitly; otherwise Debian's
// /usr/bin/rustc and /usr/bin/cargo come first (the rustup toolchain that is often first on
// PATH may lack the target), then those on PATH.
func findRustToolchain(ctx context.Context) (*rustToolchain, error) {
	candidates := func(env, name string) []string {
		if p := os.Getenv(env); p != "" {
			return []string{p}
		}
		c := []string{"/usr/bin/" + name}
		if p, err := exec.LookPath(name); err == nil && p != c[0] {
			c = append(c, p)
		}
		return c
	}
	var tried []string
	rustc := ""
	for _, c := range candidates("DUROHOST_RUSTC", "rustc") {
		sysroot, err := exec.CommandContext(ctx, c, "--print", "sysroot").Output()
		if err != nil {
			tried = append(tried, c+" (does not run)")
			continue
		}
		lib := filepath.Join(strings.TrimSpace(string(sysroot)), "lib", "rustlib", rustTarget)
		if fi, err := os.Stat(lib); err != nil || !fi.IsDir() {
			tried = append(tried, c+" (no "+rustTarget+" standard library)")
			continue
		}
		rustc = c
		break
	}
	if rustc == "" {
		if len(tried) == 0 {
			tried = append(tried, "no rustc found")
		}
		return nil, fmt.Errorf("tried %s", strings.Join(tried, ", "))
	}
	cargo := ""
	for _, c := range candidates("DUROHOST_CARGO", "cargo") {
		if _, err := exec.CommandContext(ctx, c, "--version").Output(); err == nil {
			cargo = c
			break
		}
	}
	if cargo == "" {
		return nil, fmt.Errorf("found %s but no cargo that runs", rustc)
	}
	rv, err := exec.CommandContext(ctx, rustc, "-vV").Output()
	if err != nil {
		return nil, fmt.Errorf("%s -vV: %v", rustc, err)
	}
	cv, err := exec.CommandContext(ctx, cargo, "--version").Output()
	if err != nil {
		return nil, fmt.Errorf("%s --version: %v", cargo, err)
	}
	return &rustToolchain{cargo: cargo, rustc: rustc, version: string(rv) + string(cv)}, nil
}

// env is the environment of the toolchain's cargo: its rustc, the guest flags, a target
// directory in the cache, and release builds without debug information.
func (tc *rustToolchain) env(targetDir string) []string {
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "RUSTC=") || strings.HasPrefix(kv, "RUSTFLAGS=") ||
			strings.HasPrefix(kv, "CARGO_TARGET_DIR=") || strings.HasPrefix(kv, "CARGO_ENCODED_RUSTFLAGS=") ||
			strings.HasPrefix(kv, "CARGO_BUILD_TARGET=")
	})
	env = append(env, "RUSTC="+tc.rustc, "RUSTFLAGS="+rustFlags, "CARGO_TARGET_DIR="+targetDir)
	// The host runs modules without debug information: strip it (and the symbol names) unless
	// the caller's environment says otherwise. The standard library alone carries megabytes.
	for _, kv := range []string{"CARGO_PROFILE_RELEASE_STRIP=true", "CARGO_PROFILE_RELEASE_DEBUG=false"} {
		if _, set := os.LookupEnv(strings.SplitN(kv, "=", 2)[0]); !set {
			env = append(env, kv)
		}
	}
	return env
}

// cargoMetadata is the part of `cargo metadata` a build needs.
type cargoMetadata struct {
	Packages []struct {
		Name         string  `json:"name"`
		ID           string  `json:"id"`
		Source       *string `json:"source"`
		ManifestPath string  `json:"manifest_path"`
		Targets      []struct {
			Name       string   `json:"name"`
			CrateTypes []string `json:"crate_types"`
		} `json:"targets"`
	} `json:"packages"`
	Resolve *struct {
		Root string `json:"root"`
	} `json:"resolve"`
	WorkspaceRoot string `json:"workspace_root"`
}

// buildRust returns the module built from the Cargo project in dir (a cdylib crate for
// wasm32-unknown-unknown), from the cache when the sources of the crate and of its local
// (path) dependencies, Cargo.lock and the toolchain are unchanged. The build runs offline:
// a guest may depend on crates by path (the SDK, guest-sdk/rust, among them) but on no
// registry.
func (b *guestBuilder) buildRust(ctx context.Context, dir string) ([]byte, error) {
	if !isRustProject(dir) {
		return nil, fmt.Errorf("%s has no Cargo.toml, not a Rust project: give a .wasm file or a Cargo project directory", dir)
	}
	tc, err := findRustToolchain(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s is a Rust project; compiling it needs %s: %v", dir, rustToolchainHint, err)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	manifest := filepath.Join(abs, "Cargo.toml")
	dirKey := sha256.Sum256([]byte(abs))
	targetDir := filepath.Join(b.cacheDir, "rust-target", hex.EncodeToString(dirKey[:])[:16])
	env := tc.env(targetDir)

	cmd := exec.CommandContext(ctx, tc.cargo, "metadata", "--offline", "--format-version", "1", "--manifest-path", manifest)
	cmd.Dir, cmd.Env = abs, env
	out, err := cmd.Output()
	if err != nil {
		msg := err.Error()
		if ee, ok := err.(*exec.ExitError); ok && len(ee.Stderr) > 0 {
			msg = strings.TrimSpace(string(ee.Stderr))
		}
		return nil, fmt.Errorf("%s is not a Cargo project that resolves offline (a guest may depend on crates by path only):\n%s", dir, msg)
	}
	var meta cargoMetadata
	if err := json.Unmarshal(out, &meta); err != nil {
		return nil, fmt.Errorf("cargo metadata of %s: %v", dir, err)
	}
	lib := ""
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%s\n%s\n%s\n", rustBuildKeyVersion, tc.version, rustFlags, abs)
	for _, p := range meta.Packages {
		if p.Source != nil {
			return nil, fmt.Errorf("%s depends on crate %s from %s: a guest may depend on crates by path only (it is built offline)", dir, p.Name, *p.Source)
		}
		pdir := filepath.Dir(p.ManifestPath)
		fmt.Fprintf(h, "package %s %s\n", p.ID, pdir)
		if err := hashRustTree(h, pdir); err != nil {
			return nil, err
		}
		if meta.Resolve != nil && p.ID == meta.Resolve.Root {
			for _, t := range p.Targets {
				if slices.Contains(t.CrateTypes, "cdylib") {
					lib = strings.ReplaceAll(t.Name, "-", "_")
				}
			}
		}
	}
	if lib == "" {
		return nil, fmt.Errorf("%s builds no cdylib: a Rust guest module is a library crate with crate-type = [\"cdylib\"] in its [lib] section (see wasm-examples/rust/hello)", dir)
	}
	hashFile(h, meta.WorkspaceRoot, "Cargo.lock")
	hashCargoConfig(h, abs)
	hashCargoEnv(h, env)
	cached := filepath.Join(b.cacheDir, "guests", hex.EncodeToString(h.Sum(nil))[:32]+".wasm")
	if wasm, err := os.ReadFile(cached); err == nil {
		return wasm, nil
	}

	fmt.Fprintf(b.log, "compiling Rust crate %s to WebAssembly (%s, cargo --offline)\n", dir, rustTarget)
	start := time.Now()
	cmd = exec.CommandContext(ctx, tc.cargo, "build", "--offline", "--release", "--lib", "--target", rustTarget,
		"--manifest-path", manifest, "--quiet")
	cmd.Dir, cmd.Env = abs, env
	if msg, err := cmd.CombinedOutput(); err != nil {
		text := strings.TrimSpace(string(msg))
		if text == "" {
			text = err.Error()
		}
		return nil, fmt.Errorf("compile %s:\n%s", dir, text)
	}
	wasm, err := os.ReadFile(filepath.Join(targetDir, rustTarget, "release", lib+".wasm"))
	if err != nil {
		return nil, fmt.Errorf("compile %s: cargo succeeded but wrote no module: %v", dir, err)
	}
	if err := os.MkdirAll(filepath.Dir(cached), 0o755); err != nil {
		return nil, fmt.Errorf("build cache: %v", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(cached), filepath.Base(cached)+".*.tmp")
	if err != nil {
		return nil, fmt.Errorf("build cache: %v", err)
	}
	_, werr := tmp.Write(wasm)
	cerr := tmp.Close()
	defer os.Remove(tmp.Name())
	if werr != nil || cerr != nil {
		return nil, fmt.Errorf("build cache: %v", errorsJoin(werr, cerr))
	}
	// Rename makes the cache entry appear whole: a concurrent run reads either nothing or it.
	if err := os.Rename(tmp.Name(), cached); err != nil {
		return nil, fmt.Errorf("build cache: %v", err)
	}
	fmt.Fprintf(b.log, "compiled in %s (%d KiB, cached)\n", time.Since(start).Round(100*time.Millisecond), len(wasm)>>10)
	return wasm, nil
}

// errorsJoin returns the first non-nil error.
func errorsJoin(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// hashRustTree writes to h the name and contents of every file of a crate's directory that
// can change its build: Cargo.toml, everything under src/, and every Rust source elsewhere in
// the directory (a [lib] or build script path outside src/, the modules beside it), skipping
// target directories and hidden ones.
func hashRustTree(h hash.Hash, dir string) error {
	hashFile(h, dir, "Cargo.toml")
	return filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != dir && (d.Name() == "target" || strings.HasPrefix(d.Name(), ".")) {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasPrefix(rel, "src"+string(filepath.Separator)) || strings.HasSuffix(rel, ".rs") {
			hashFile(h, dir, rel)
		}
		return nil
	})
}

// hashCargoEnv writes to h the variables of the build's environment that configure Cargo's
// build (profiles, the target's linker and runner, build settings, the rustc wrapper): the
// caller's CARGO_PROFILE_RELEASE_OPT_LEVEL, for one, changes the module.
func hashCargoEnv(h hash.Hash, env []string) {
	var vars []string
	for _, kv := range env {
		if strings.HasPrefix(kv, "CARGO_PROFILE_") || strings.HasPrefix(kv, "CARGO_BUILD_") ||
			strings.HasPrefix(kv, "CARGO_TARGET_") || strings.HasPrefix(kv, "RUSTC_") ||
			strings.HasPrefix(kv, "RUSTFLAGS=") || strings.HasPrefix(kv, "CARGO_ENCODED_RUSTFLAGS=") {
			vars = append(vars, kv)
		}
	}
	slices.Sort(vars)
	for _, kv := range vars {
		fmt.Fprintf(h, "env %q\n", kv)
	}
}

// hashCargoConfig writes to h the Cargo configuration files a build in dir reads: those of
// dir and of every parent directory, and that of $CARGO_HOME (~/.cargo); they can set
// profiles, flags and the linker, which change the module.
func hashCargoConfig(h hash.Hash, dir string) {
	for d := dir; ; d = filepath.Dir(d) {
		hashFile(h, d, filepath.Join(".cargo", "config.toml"))
		hashFile(h, d, filepath.Join(".cargo", "config"))
		if filepath.Dir(d) == d {
			break
		}
	}
	home := os.Getenv("CARGO_HOME")
	if home == "" {
		if u, err := os.UserHomeDir(); err == nil {
			home = filepath.Join(u, ".cargo")
		}
	}
	if home != "" {
		hashFile(h, home, "config.toml")
		hashFile(h, home, "config")
	}
}
