package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
)

// Environment variables read by durohost.
const (
	// envDB is the older name of $DUROHOST_STORE (envStore), still read after it.
	envDB = "DUROHOST_DB"
	// envCacheDir overrides the cache directory (compiled Go guests, compiled modules).
	envCacheDir = "DUROHOST_CACHE_DIR"
)

// defaultDBPath returns the SQLite file used when no store is named: durohost.db in the user's
// data directory.
func defaultDBPath() (string, error) {
	dir, err := dataDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "durohost.db"), nil
}

// dataDir returns the directory for durohost's data: $XDG_DATA_HOME/durohost, else the
// platform's convention (~/.local/share/durohost on Unix, ~/Library/Application
// Support/durohost on macOS, %LocalAppData%\durohost on Windows).
func dataDir() (string, error) {
	if d := os.Getenv("XDG_DATA_HOME"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "durohost"), nil
	}
	switch runtime.GOOS {
	case "windows":
		if d := os.Getenv("LocalAppData"); d != "" {
			return filepath.Join(d, "durohost"), nil
		}
	case "darwin", "ios":
		d, err := os.UserConfigDir()
		if err == nil {
			return filepath.Join(d, "durohost"), nil
		}
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("no data directory for the database (%v): give --store", err)
	}
	return filepath.Join(home, ".local", "share", "durohost"), nil
}

// cacheDir returns the directory for caches: $DUROHOST_CACHE_DIR, else durohost in the
// user's cache directory. Everything in it can be deleted.
func cacheDir() (string, error) {
	if d := os.Getenv(envCacheDir); d != "" {
		return d, nil
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("no cache directory (%v): set %s", err, envCacheDir)
	}
	return filepath.Join(d, "durohost"), nil
}

// prepareDB returns the SQLite file to open, flag or the default, and creates its directory.
func prepareDB(flag string) (string, error) {
	path := flag
	if path == "" {
		var err error
		if path, err = defaultDBPath(); err != nil {
			return "", err
		}
	}
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return "", fmt.Errorf("database %s is a directory: give a file path to --store", path)
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("database %s: %v", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return "", fmt.Errorf("create the database directory: %v", err)
	}
	return path, nil
}
