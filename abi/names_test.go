package abi

import (
	"strings"
	"testing"
)

func TestCheckName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"order-1", true},
		{"team-a/order 1:3", true},
		{"café ☕ 注文", true},
		{strings.Repeat("x", MaxNameLen), true},
		{"", false},
		{strings.Repeat("x", MaxNameLen+1), false},
		{"a\x00b", false},
		{"a\r\nb", false},
		{"a\x1b[31mred", false},
		{"a\x7f", false},
		{"a\u0085b", false},
		{"admin\u202egnp.exe", false},
		{"ab\u200bc", false},
		{"\ufeffbom", false},
		{"a\u2066b\u2069", false},
		{"\xff\xfe", false},
	}
	for _, tt := range tests {
		err := CheckName(tt.name)
		if (err == nil) != tt.ok {
			t.Errorf("CheckName(%q) = %v, want ok %v", tt.name, err, tt.ok)
		}
	}
}
