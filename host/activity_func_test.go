package host

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/durohost/durohost/abi"
)

// TestTypedActivity: a typed activity decodes its input and encodes its result as JSON, and
// reports a payload it cannot decode or encode with the SDKs' code, bad_payload.
func TestTypedActivity(t *testing.T) {
	double := typedActivity("double", func(_ context.Context, n int) (int, error) { return 2 * n, nil })
	unencodable := typedActivity("f", func(context.Context, any) (func(), error) { return func() {}, nil })
	failing := typedActivity("fail", func(context.Context, any) (any, error) { return nil, errors.New("boom") })
	tests := []struct {
		name     string
		fn       ActivityFunc
		input    string
		want     string
		wantCode string // "" : no failure
		wantMsg  string
	}{
		{"decodes and encodes", double, `21`, `42`, "", ""},
		{"empty input is the zero value", double, ``, `0`, "", ""},
		{"undecodable input", double, `"x"`, "", CodeBadPayload, `activity "double": input is not a valid int`},
		{"unencodable result", unencodable, `null`, "", CodeBadPayload, `activity "f": encode the result`},
		{"the function's error", failing, `null`, "", "", "boom"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := tt.fn(context.Background(), []byte(tt.input))
			if tt.wantMsg == "" {
				if err != nil || string(out) != tt.want {
					t.Fatalf("got %q, %v; want %q", out, err, tt.want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Fatalf("error %v, want one containing %q", err, tt.wantMsg)
			}
			var f *abi.Failure
			if tt.wantCode != "" && (!errors.As(err, &f) || f.Code != tt.wantCode || f.Kind != abi.FailureApplication) {
				t.Fatalf("error %#v, want an application failure of code %s", err, tt.wantCode)
			}
		})
	}
}
