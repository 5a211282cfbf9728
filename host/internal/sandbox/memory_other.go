//go:build !unix

package sandbox

import "github.com/tetratelabs/wazero/experimental"

// reservedMemory falls back to wazero's own memory where mappings are not available.
type reservedMemory struct{}

func newMemory(*dataImage, *memoryBudget) *reservedMemory         { return &reservedMemory{} }
func (m *reservedMemory) setRefused(func())                       {}
func (m *reservedMemory) allocator() experimental.MemoryAllocator { return nil }
func (m *reservedMemory) enter()                                  {}
func (m *reservedMemory) release()                                {}
