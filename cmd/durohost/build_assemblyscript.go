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
		name:       "assemblyscript",
		marker:     "a package.json with an asconfig.json (AssemblyScript)",
		detect:     isASProject,
		build:      (*guestBuilder).buildAS,
		benchGuest: "internal/bench/guest-assemblyscript",
	})
}

// asBuildKeyVersion changes when the way AssemblyScript modules are built changes,
// invalidating old builds.
const asBuildKeyVersion = "durohost-assemblyscript-guest-1"

// asInstallStamp is the file in node_modules that records which package.json and lock file
// the dependencies were installed for, so that npm runs again only when they change.
const asInstallStamp = ".durohost-install"

// asToolchainHint says what an AssemblyScript guest build needs.
const asToolchainHint = "Node.js and npm (Debian: nodejs npm); the compiler, assemblyscript, is installed by npm from the project's package.json"

// asBuildScript is the build script an AssemblyScript project's package.json must have.
const asBuildScript = `"build": "asc assembly/index.ts --config asconfig.json --target release"`

// isASProject reports whether dir holds an AssemblyScript project: a package.json and an
// asconfig.json.
func isASProject(dir string) bool {
	for _, name := range []string{"package.json", "asconfig.json"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || fi.IsDir() {
			return false
		}
	}
	return true
}

// asPackage is the part of package.json a build reads.
type asPackage struct {
	Scripts         map[string]string `json:"scripts"`
	Dependencies    map[string]string `json:"dependencies"`
	DevDependencies map[string]string `json:"devDependencies"`
}

// readASPackage reads and checks dir/package.json: it must have a build script.
func readASPackage(dir string) (*asPackage, []byte, error) {
	data, err := os.ReadFile(filepath.Join(dir, "package.json"))
	if err != nil {
		return nil, nil, err
	}
	var p asPackage
	if err := json.Unmarshal(data, &p); err != nil {
		return nil, nil, fmt.Errorf("%s: package.json is not valid JSON: %v", dir, err)
	}
	if strings.TrimSpace(p.Scripts["build"]) == "" {
		return nil, nil, fmt.Errorf("%s: package.json has no build script; durohost runs `npm run build -- --outFile <module>`: add %s", dir, asBuildScript)
	}
	return &p, data, nil
}

// localDependencies returns the directories of the package's file: dependencies, sorted.
func (p *asPackage) localDependencies(dir string) []string {
	var out []string
	for _, deps := range []map[string]string{p.Dependencies, p.DevDependencies} {
		for _, v := range deps {
			if rel, ok := strings.CutPrefix(v, "file:"); ok {
				out = append(out, filepath.Join(dir, filepath.FromSlash(rel)))
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// buildAS returns the module built from the AssemblyScript project in dir, from the cache when
// its sources, its dependencies' versions, the sources of its local (file:) dependencies such
// as the durohost SDK, and Node.js are unchanged. The dependencies are installed with npm ci
// (npm install without a lock file) when package.json or the lock file changed since the last
// install, then `npm run build -- --outFile <module>` compiles the module.
func (b *guestBuilder) buildAS(ctx context.Context, dir string) ([]byte, error) {
	if !isASProject(dir) {
		return nil, fmt.Errorf("%s holds no package.json and asconfig.json: give a .wasm file or an AssemblyScript project directory", dir)
	}
	pkg, pkgData, err := readASPackage(dir)
	if err != nil {
		return nil, err
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		return nil, fmt.Errorf("%s is an AssemblyScript project; building it needs %s: %v", dir, asToolchainHint, err)
	}
	nodeVersion := "unknown"
	if node, err := exec.LookPath("node"); err == nil {
		if out, err := exec.CommandContext(ctx, node, "--version").Output(); err == nil {
			nodeVersion = strings.TrimSpace(string(out))
		}
	}
	lock, _ := os.ReadFile(filepath.Join(dir, "package-lock.json"))
	h := sha256.New()
	fmt.Fprintf(h, "%s\nnode %s\n", asBuildKeyVersion, nodeVersion)
	if err := hashASTree(h, dir); err != nil {
		return nil, err
	}
	for _, dep := range pkg.localDependencies(dir) {
		fmt.Fprintf(h, "dependency %s\n", filepath.Base(dep))
		if err := hashASTree(h, dep); err != nil {
			return nil, fmt.Errorf("%s: local dependency %s: %v", dir, dep, err)
		}
	}
	cached := filepath.Join(b.cacheDir, "guests", hex.EncodeToString(h.Sum(nil))[:32]+".wasm")
	if wasm, err := os.ReadFile(cached); err == nil {
		return wasm, nil
	}

	if err := b.npmInstall(ctx, npm, dir, pkgData, lock); err != nil {
		return nil, err
	}
	fmt.Fprintf(b.log, "compiling AssemblyScript project %s to WebAssembly (npm run build)\n", dir)
	start := time.Now()
	if err := os.MkdirAll(filepath.Dir(cached), 0o755); err != nil {
		return nil, fmt.Errorf("build cache: %v", err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(cached), "as-build-*")
	if err != nil {
		return nil, fmt.Errorf("build cache: %v", err)
	}
	defer os.RemoveAll(tmp)
	out := filepath.Join(tmp, "module.wasm")
	cmd := exec.CommandContext(ctx, npm, "run", "--silent", "build", "--", "--outFile", out)
	cmd.Dir = dir
	if msg, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("compile %s:\n%s", dir, commandOutput(msg, err))
	}
	wasm, err := os.ReadFile(out)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("compile %s: npm run build succeeded but wrote no module at the path --outFile gave: its build script must run asc and pass on its arguments (%s)", dir, asBuildScript)
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

// npmInstall installs the project's dependencies unless node_modules already holds those of
// this package.json and lock file: npm ci with a lock file (exactly the locked versions),
// npm install without one.
func (b *guestBuilder) npmInstall(ctx context.Context, npm, dir string, pkg, lock []byte) error {
	sum := sha256.New()
	sum.Write(pkg)
	sum.Write([]byte{0})
	sum.Write(lock)
	want := hex.EncodeToString(sum.Sum(nil))
	stamp := filepath.Join(dir, "node_modules", asInstallStamp)
	if got, err := os.ReadFile(stamp); err == nil && string(got) == want {
		return nil
	}
	// --prefer-offline takes packages from npm's cache when it holds them: a project rebuilt on
	// a machine that installed them once does not need the registry.
	args := []string{"install", "--prefer-offline", "--no-audit", "--no-fund"}
	if lock != nil {
		args[0] = "ci"
	}
	fmt.Fprintf(b.log, "installing the npm dependencies of %s (npm %s)\n", dir, args[0])
	cmd := exec.CommandContext(ctx, npm, args...)
	cmd.Dir = dir
	if msg, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("npm %s in %s:\n%s", args[0], dir, commandOutput(msg, err))
	}
	if err := os.WriteFile(stamp, []byte(want), 0o644); err != nil {
		return fmt.Errorf("npm %s in %s: %v", args[0], dir, err)
	}
	return nil
}

// commandOutput returns a failed command's output, or its error when it printed nothing.
func commandOutput(msg []byte, err error) string {
	if text := string(bytes.TrimSpace(msg)); text != "" {
		return text
	}
	return err.Error()
}

// hashASTree writes the name and contents of every source file under dir to h: TypeScript
// and JSON files and .npmrc, skipping node_modules, hidden directories and build outputs.
func hashASTree(h io.Writer, dir string) error {
	return filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if path != dir && (name == "node_modules" || strings.HasPrefix(name, ".")) {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		switch {
		case strings.HasSuffix(name, ".ts"), strings.HasSuffix(name, ".json"), name == ".npmrc":
		default:
			return nil
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		hashFile(h, dir, rel)
		return nil
	})
}
