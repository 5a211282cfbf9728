//go:build !linux

package sandbox

import (
	"errors"

	"github.com/durohost/durohost/host/internal/wasmopt"
)

// imageSupported: memories start from wazero's copy of the data segments (see image_linux.go).
const imageSupported = false

type dataImage struct{ size int }

func newDataImage(*wasmopt.Image) (*dataImage, error) {
	return nil, errors.New("memory images need Linux")
}

func newSnapshotImage([]byte) (*dataImage, error) { return nil, errors.New("memory images need Linux") }

func (d *dataImage) close() error { return nil }

func (d *dataImage) mapOver([]byte) error { return errors.New("memory images need Linux") }

func (d *dataImage) copyOver([]byte) error { return errors.New("memory images need Linux") }

func (d *dataImage) recycle([]byte, int) bool { return false }

func (d *dataImage) reuse(*reservedMemory, int, int) bool { return false }

func (d *dataImage) resident() int64 { return 0 }
