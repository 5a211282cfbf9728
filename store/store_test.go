package store_test

import (
	"fmt"
	"testing"

	"github.com/durohost/durohost/store"
)

func TestKeyAndLocalID(t *testing.T) {
	tests := []struct {
		ns, id, key string
	}{
		{"", "x", "x"},
		{"", "a/x", "a/x"},
		{"team-a", "x", "team-a/x"},
		{"team-a", "b/x", "team-a/b/x"},
		{"team-a", "team-a/x", "team-a/team-a/x"},
	}
	for _, tt := range tests {
		if got := store.Key(tt.ns, tt.id); got != tt.key {
			t.Errorf("Key(%q, %q) = %q, want %q", tt.ns, tt.id, got, tt.key)
		}
		if got := store.LocalID(tt.ns, tt.key); got != tt.id {
			t.Errorf("LocalID(%q, %q) = %q, want %q", tt.ns, tt.key, got, tt.id)
		}
	}
	// A key without the namespace's prefix is returned as it is: LocalID never finds a
	// namespace in a key.
	for _, tt := range []struct{ ns, key string }{{"team-a", "team-b/x"}, {"team-a", "team-ax"}, {"team-a", "x"}} {
		if got := store.LocalID(tt.ns, tt.key); got != tt.key {
			t.Errorf("LocalID(%q, %q) = %q, want the key unchanged", tt.ns, tt.key, got)
		}
	}
}

func TestRegistrationKind(t *testing.T) {
	tests := []struct {
		k     store.RegistrationKind
		name  string
		valid bool
	}{
		{store.RegistrationOrchestration, "orchestration", true},
		{store.RegistrationModule, "module", true},
		{0, "RegistrationKind(0)", false},
		{3, "RegistrationKind(3)", false},
	}
	for _, tt := range tests {
		if got := tt.k.String(); got != tt.name {
			t.Errorf("String(%d) = %q, want %q", tt.k, got, tt.name)
		}
		if got := tt.k.Valid(); got != tt.valid {
			t.Errorf("Valid(%d) = %v, want %v", tt.k, got, tt.valid)
		}
	}
}

func ExampleKey() {
	key := store.Key("team-a", "order-42")
	fmt.Println(key, store.LocalID("team-a", key))
	fmt.Println(store.Key("", "order-42"))
	// Output:
	// team-a/order-42 order-42
	// order-42
}
