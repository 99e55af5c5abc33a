package vm

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
)

// system runs commands on the host (root "") or inside a Debian
// environment under root, as root, with a log of what it runs.
type system struct {
	root string
	// binds are host directories visible inside the environment: guest
	// path -> host path. Ignored on the host.
	binds map[string]string
	log   io.Writer
}

func (s *system) where() string {
	if s.root == "" {
		return ""
	}
	return " in " + s.root
}

// envPath is PATH inside an environment: chroot keeps the host's, which
// may name directories it does not have.
const envPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// command returns the command for args. Inside an environment it runs in
// a mount namespace of its own, with /proc and the binds mounted: they
// vanish with the namespace, whatever happens to the command, so nothing
// is left mounted on the host.
func (s *system) command(ctx context.Context, env []string, args ...string) *exec.Cmd {
	if s.root == "" {
		cmd := exec.CommandContext(ctx, args[0], args[1:]...)
		cmd.Env = append(os.Environ(), env...)
		return cmd
	}
	var sh strings.Builder
	sh.WriteString("set -e\n")
	fmt.Fprintf(&sh, "mount -t proc proc %s/proc\n", shQuote(s.root))
	for guest, host := range s.binds {
		fmt.Fprintf(&sh, "mkdir -p %s\nmount --bind %s %s\n", shQuote(s.root+guest), shQuote(host), shQuote(s.root+guest))
	}
	fmt.Fprintf(&sh, "exec chroot %s \"$@\"\n", shQuote(s.root))
	a := append([]string{"--mount", "--propagation", "private", "--", "/bin/sh", "-c", sh.String(), "sh"}, args...)
	cmd := exec.CommandContext(ctx, "unshare", a...)
	cmd.Env = append([]string{"PATH=" + envPath, "HOME=/root", "LC_ALL=C"}, env...)
	return cmd
}

// run runs args, its output going to the log; on failure the error
// carries the output's end.
func (s *system) run(ctx context.Context, env []string, args ...string) error {
	cmd := s.command(ctx, env, args...)
	var tail tailBuffer
	w := io.Writer(&tail)
	if s.log != nil {
		fmt.Fprintf(s.log, "+ %s%s\n", strings.Join(args, " "), s.where())
		w = io.MultiWriter(s.log, &tail)
	}
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s%s: %v\n%s", strings.Join(args, " "), s.where(), err, tail.String())
	}
	return nil
}

// output runs args and returns what it printed on stdout.
func (s *system) output(ctx context.Context, args ...string) ([]byte, error) {
	cmd := s.command(ctx, nil, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%s%s: %v: %s", strings.Join(args, " "), s.where(), err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

func shQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// tailBuffer keeps the last few KiB written to it.
type tailBuffer struct{ b []byte }

const tailMax = 4 << 10

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > 2*tailMax {
		t.b = append([]byte(nil), t.b[len(t.b)-tailMax:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	b := t.b
	if len(b) > tailMax {
		b = b[len(b)-tailMax:]
	}
	return string(b)
}
