package sqlite

import (
	"context"
	"testing"
)

func TestSmoke(t *testing.T) {
	s := openTest(t)
	startInstance(t, s, "a")
	in, err := s.Instance(context.Background(), "a")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", in)
	h, err := s.History(context.Background(), "a", 0)
	t.Logf("%+v %v", h, err)
}
