package plan

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestValidate(t *testing.T) {
	ok := Step{Name: "a", Args: []string{"true"}}
	bg := Step{Name: "srv", Args: []string{"server"}, Background: true}
	for _, tc := range []struct {
		steps []Step
		err   string
	}{
		{[]Step{ok, bg, {Name: "w", Wait: "srv"}}, ""},
		{[]Step{{Args: []string{"x"}}}, "no name"},
		{[]Step{ok, ok}, "used twice"},
		{[]Step{{Name: "x"}}, "neither args nor wait"},
		{[]Step{{Name: "w", Wait: "srv"}, bg}, "not an earlier background step"},
		{[]Step{ok, {Name: "w", Wait: "a"}}, "not an earlier background step"},
		{[]Step{bg, {Name: "w", Wait: "srv", Args: []string{"x"}}}, "both args and wait"},
		{[]Step{{Name: "b", Args: []string{"x"}, Background: true, Ready: "listening"}}, ""},
		{[]Step{{Name: "b", Args: []string{"x"}, Ready: "listening"}}, "not a background step"},
	} {
		err := (&Plan{Steps: tc.steps}).Validate()
		if (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("%+v: got %v, want %q", tc.steps, err, tc.err)
		}
	}
}

func TestLoadRoundTrip(t *testing.T) {
	p := Plan{
		Modules: []Module{{Name: "mhost", Path: "/lib/modules/extra/mhost.ko", Params: "family=27", Ours: true}},
		Steps:   []Step{{Name: "t", Args: []string{"/tests/guest.test", "-test.v"}, GoTest: true, Timeout: time.Minute}},
	}
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "plan.json")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.Modules[0] != p.Modules[0] || got.Steps[0].Timeout != time.Minute || !got.Steps[0].GoTest {
		t.Errorf("loaded %+v", got)
	}
}
