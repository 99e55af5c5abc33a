// Package plan is the contract between the VM harness on the host and the
// init program inside the guest: the host writes a Plan as JSON into the
// initramfs, the guest init executes it and reports on the guest serial port
// with the marker lines defined here.
package plan

import (
	"encoding/json"
	"fmt"
	"os"
	"time"
)

// Path is where the plan lives inside the initramfs.
const Path = "/etc/mhostvm/plan.json"

// Marker lines printed by the guest init on the guest output port. Each is
// a prefix at the start of a line, followed by a space and its arguments.
const (
	// MarkerInit is printed once init has mounted the file systems and read
	// the plan: "MHOST-VM-INIT: up <seconds since boot>".
	MarkerInit = "MHOST-VM-INIT:"
	// MarkerStepStart is "MHOST-VM-STEP-START: <name>".
	MarkerStepStart = "MHOST-VM-STEP-START:"
	// MarkerStepEnd is "MHOST-VM-STEP-END: <name> exit=<code> time=<duration>"
	// where code is -1 when the program could not be started or was killed.
	MarkerStepEnd = "MHOST-VM-STEP-END:"
	// MarkerNote is an informational line from init.
	MarkerNote = "MHOST-VM-NOTE:"
	// MarkerError is a problem init found; each one makes the result FAIL.
	MarkerError = "MHOST-VM-ERROR:"
	// MarkerResult is the last line init prints before powering off:
	// "MHOST-VM-RESULT: PASS" or "MHOST-VM-RESULT: FAIL <reasons>".
	MarkerResult = "MHOST-VM-RESULT:"
)

// Plan tells the guest init what to do, in order: load Modules, run Steps,
// optionally start an interactive shell, then check that the modules it
// loaded are unused and unload them.
type Plan struct {
	// Output is the device the step programs and init's own report
	// write to; empty means /dev/ttyS1.
	Output string `json:"output,omitempty"`
	// Modules are loaded in order with finit_module and unloaded in
	// reverse order at the end.
	Modules []Module `json:"modules,omitempty"`
	// Steps run one after another.
	Steps []Step `json:"steps,omitempty"`
	// Shell starts an interactive /bin/sh on /dev/ttyS0 after the steps;
	// init carries on (checks, unload, power off) when it exits.
	Shell bool `json:"shell,omitempty"`
	// SettleTimeout bounds the wait for the mhost module's reference count
	// and socket slab to drain after the steps; 0 means 10s.
	SettleTimeout time.Duration `json:"settle_timeout,omitempty"`
	// Kmemleak scans for leaks (CONFIG_DEBUG_KMEMLEAK) once the steps are
	// done and mhost is idle, and again after unloading: a leak allocated
	// by one of our modules makes the run fail; the kernel's own are
	// noted.
	Kmemleak bool `json:"kmemleak,omitempty"`
}

// Module is one kernel module to load.
type Module struct {
	// Name is the module name as it appears in /sys/module (dashes
	// replaced by underscores).
	Name string `json:"name"`
	// Path is the .ko file inside the guest.
	Path string `json:"path"`
	// Params are the module parameters, "key=value key2=value".
	Params string `json:"params,omitempty"`
	// Ours marks modules built from this repository: failing to unload
	// them is an error, whereas for the kernel's own modules it is a note.
	Ours bool `json:"ours,omitempty"`
}

// Step is one program to run, or a wait for a background program.
type Step struct {
	// Name identifies the step in marker lines; unique within a plan.
	Name string `json:"name"`
	// Args is the command line; Args[0] is looked up in PATH when it has
	// no slash. Empty for a pure Wait step.
	Args []string `json:"args,omitempty"`
	// Env adds KEY=VALUE entries to the default environment.
	Env []string `json:"env,omitempty"`
	// Timeout kills the step (its whole process group) when it runs
	// longer; 0 means 10 minutes. For a background step it counts from
	// its start to the end of its Wait.
	Timeout time.Duration `json:"timeout,omitempty"`
	// Background starts the program and goes on with the next step at
	// once. Its output lines are prefixed with "<name>| ". A background
	// step that is never waited for is killed at the end (a note, not an
	// error).
	Background bool `json:"background,omitempty"`
	// Wait names an earlier background step to wait for; its exit status
	// then counts like a foreground step's.
	Wait string `json:"wait,omitempty"`
	// Ready, for a background step, holds the plan until the program
	// prints a line containing this text (a server saying it listens),
	// so that the next steps never race its start. The step fails if the
	// program exits or times out first.
	Ready string `json:"ready,omitempty"`
	// GoTest marks a Go test binary whose output the host parses into
	// test results.
	GoTest bool `json:"go_test,omitempty"`
}

// DefaultStepTimeout applies when Step.Timeout is zero.
const DefaultStepTimeout = 10 * time.Minute

// Validate reports the first structural problem in p.
func (p *Plan) Validate() error {
	seen := map[string]Step{}
	for i, s := range p.Steps {
		if s.Name == "" {
			return fmt.Errorf("step %d has no name", i)
		}
		if _, dup := seen[s.Name]; dup {
			return fmt.Errorf("step name %q used twice", s.Name)
		}
		switch {
		case s.Wait != "" && len(s.Args) > 0:
			return fmt.Errorf("step %q has both args and wait", s.Name)
		case s.Wait == "" && len(s.Args) == 0:
			return fmt.Errorf("step %q has neither args nor wait", s.Name)
		case s.Wait != "":
			bg, ok := seen[s.Wait]
			if !ok || !bg.Background {
				return fmt.Errorf("step %q waits for %q, which is not an earlier background step", s.Name, s.Wait)
			}
		case s.Ready != "" && !s.Background:
			return fmt.Errorf("step %q waits to be ready but is not a background step", s.Name)
		}
		seen[s.Name] = s
	}
	for i, m := range p.Modules {
		if m.Name == "" || m.Path == "" {
			return fmt.Errorf("module %d needs a name and a path", i)
		}
	}
	return nil
}

// Load reads and validates a plan file.
func Load(path string) (*Plan, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var p Plan
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &p, nil
}
