package postgres

import (
	"testing"
	"testing/fstest"
)

func TestEmbeddedMigrations(t *testing.T) {
	ms, err := loadMigrations(migrationFS, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) == 0 || schemaVersion() != len(ms) {
		t.Fatalf("%d migrations, schema version %d", len(ms), schemaVersion())
	}
}

func TestLoadMigrationsChecksNumbers(t *testing.T) {
	tests := []struct {
		name  string
		files []string
		ok    bool
	}{
		{"in order", []string{"0001_a.sql", "0002_b.sql"}, true},
		{"other files ignored", []string{"0001_a.sql", "README"}, true},
		{"gap", []string{"0001_a.sql", "0003_c.sql"}, false},
		{"not from 1", []string{"0002_b.sql"}, false},
		{"twice", []string{"0001_a.sql", "0001_b.sql"}, false},
		{"no number", []string{"init.sql"}, false},
		{"zero", []string{"0000_a.sql"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fsys := fstest.MapFS{}
			for _, f := range tt.files {
				fsys["m/"+f] = &fstest.MapFile{Data: []byte("SELECT 1;")}
			}
			_, err := loadMigrations(fsys, "m")
			if (err == nil) != tt.ok {
				t.Fatalf("loadMigrations(%v): %v, want ok=%v", tt.files, err, tt.ok)
			}
		})
	}
}
