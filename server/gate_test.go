package server

import (
	"net/http"
	"testing"

	"github.com/durohost/durohost/abi"
	"github.com/durohost/durohost/internal/testguest"
)

// TestUploadGate: ?check=replay replays the open instances against the new module and says,
// per instance, compatible or the first divergence; it stores nothing.
func TestUploadGate(t *testing.T) {
	e := newEnv(t)
	wasmA := testguest.Build(t, "conformance/guests/nondet", "")
	wasmB := testguest.Build(t, "conformance/guests/nondet", "-X=main.variant=b")
	e.upload(tokA, "nd", "1", wasmA)
	// nd_name calls step_a, which blocks: the instance stays open.
	id := e.start(tokA, "nd_name", "open-1", nil)
	e.waitFor(tokA, id, "the activity scheduled", func(m map[string]any) bool { return m["status"] == "running" })
	// An instance of namespace b is not checked by a's upload.
	e.upload(tokB, "nd", "1", wasmA)
	e.start(tokB, "nd_name", "open-b", nil)
	e.waitFor(tokB, "open-b", "running", func(m map[string]any) bool { return m["status"] == "running" })

	ok := e.expect(tokA, "PUT", "/v1/modules/nd?version=2&check=replay", wasmA, http.StatusOK, "").obj(t)
	check := ok["check"].(map[string]any)
	if check["compatible"] != true || check["checked"] != float64(1) {
		t.Fatalf("same build: check = %v", check)
	}

	bad := e.expect(tokA, "PUT", "/v1/modules/nd?version=2&check=replay", wasmB, http.StatusOK, "").obj(t)
	check = bad["check"].(map[string]any)
	insts := check["instances"].([]any)
	if check["compatible"] != false || check["checked"] != float64(1) || len(insts) != 1 {
		t.Fatalf("variant b: check = %v", check)
	}
	in := insts[0].(map[string]any)
	d, _ := in["divergence"].(map[string]any)
	if in["id"] != "open-1" || in["compatible"] != false || d == nil || d["code"] != abi.CodeCommandMismatch || d["index"] != float64(3) ||
		d["recorded"].(map[string]any)["name"] != "step_a" || d["got"].(map[string]any)["name"] != "step_b" || d["message"] == "" {
		t.Fatalf("variant b: instance check = %v", in)
	}

	// Nothing was stored: only version 1 exists, and the instance runs on.
	if l := e.expect(tokA, "GET", "/v1/modules/nd", nil, http.StatusOK, "").obj(t)["modules"].([]any); len(l) != 1 {
		t.Fatalf("versions after checks = %v", l)
	}
	close(e.release)
	if out := e.wait(tokA, id); out["status"] != "completed" || out["output"] != "released" {
		t.Fatalf("instance = %v", out)
	}
	// With no open instance, a check is trivially compatible.
	if c := e.expect(tokA, "PUT", "/v1/modules/nd?version=2&check=replay", wasmB, http.StatusOK, "").obj(t)["check"].(map[string]any); c["compatible"] != true || c["checked"] != float64(0) {
		t.Fatalf("no open instance: check = %v", c)
	}
}
