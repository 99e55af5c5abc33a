//go:build linux

package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/mnet/mnet/gosdk/mhostnl"
)

// A batchRun is the state of -b FILE: the file, the line running, and
// the host add or host set lines waiting to go to the kernel together.
type batchRun struct {
	file string
	line int

	verb    string // "host add" or "host set" while hosts wait
	pending []mhostnl.Host
	lines   []int // the line of each pending host
}

// runBatch runs the commands of file, one per line ("-": standard
// input), and stops at the first that fails.
func (c *cli) runBatch(file string) error {
	var r io.Reader = c.stdin
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return usagef("", "%v", err)
		}
		defer f.Close()
		r = f
	}
	c.batch = &batchRun{file: file}
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		c.batch.line++
		text, _, _ := strings.Cut(sc.Text(), "#")
		args := strings.Fields(text)
		if len(args) == 0 {
			continue
		}
		if err := c.batchLine(args); err != nil {
			var ue *usageError
			if errors.As(err, &ue) {
				// The lines before a wrong one take effect.
				if ferr := c.flushBatch(); ferr != nil {
					return ferr
				}
			}
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return usagef("", "reading %s: %v", file, err)
	}
	return c.flushBatch()
}

// batchLine runs one line of a batch. Its -j, -p and -s apply to it
// alone.
func (c *cli) batchLine(args []string) error {
	saved := *c
	defer func() { c.json, c.pretty, c.stats = saved.json, saved.pretty, saved.stats }()
	opts, args, err := c.options(args)
	if err == nil && (opts != options{} || len(args) == 0) {
		err = usagef("", "-n, -b, -V and -h cannot be used in a batch")
	}
	if err != nil {
		return c.atLine(c.batch.line, err)
	}
	name, rest, err := lookup(args)
	if err == nil && (name == "monitor" || name == "host resolve") {
		err = usagef(name, "not in a batch")
	}
	if err == nil && name != "host add" && name != "host set" {
		// Anything else runs after the hosts waiting before it.
		err = c.flushBatch()
	}
	if err == nil {
		err = usages[name].run(c, name, rest)
	}
	return c.atLine(c.batch.line, err)
}

// A locatedError is an error of a batch that says its file and line.
type locatedError struct{ error }

func (e locatedError) Unwrap() error { return e.error }

// atLine prefixes the command of err, a usage or command error, with
// the file and line it comes from, unless it has them already.
func (c *cli) atLine(line int, err error) error {
	where := fmt.Sprintf("%s:%d", c.batch.file, line)
	var (
		le locatedError
		ue *usageError
		ce *cmdError
	)
	switch {
	case err == nil:
		return nil
	case errors.As(err, &le):
		return err
	case errors.As(err, &ue):
		return locatedError{&usageError{cmd: strings.TrimSuffix(where+": "+ue.cmd, ": "), msg: ue.msg}}
	case errors.As(err, &ce):
		return locatedError{&cmdError{cmd: where + ": " + ce.cmd, err: ce.err, hint: ce.hint}}
	}
	return locatedError{&cmdError{cmd: where, err: err}}
}

// queue adds a host of a host add or host set line to the batch, sending
// those waiting first if they are of the other verb.
func (c *cli) queue(verb string, h mhostnl.Host) error {
	b := c.batch
	if b.verb != verb {
		if err := c.flushBatch(); err != nil {
			return err
		}
		b.verb = verb
	}
	b.pending = append(b.pending, h)
	b.lines = append(b.lines, b.line)
	return nil
}

// flushBatch sends the hosts waiting, many per system call.
func (c *cli) flushBatch() error {
	b := c.batch
	if len(b.pending) == 0 {
		return nil
	}
	hosts, lines, verb := b.pending, b.lines, b.verb
	b.pending, b.lines, b.verb = nil, nil, ""
	k, err := c.backend()
	if err != nil {
		return c.atLine(lines[0], fail(verb, err))
	}
	if verb == "host add" {
		err = k.AddHosts(hosts)
	} else {
		err = k.SetHosts(hosts)
	}
	var be *mhostnl.BatchError
	if errors.As(err, &be) && len(be.Errors) > 0 {
		first := be.Errors[0]
		if n := len(be.Errors); n > 1 {
			c.warnf("%d hosts of the batch failed; the first:", n)
		}
		hint := ""
		if verb == "host add" {
			hint = "use 'host set' to replace it"
		}
		return c.atLine(lines[first.Index], hinted(verb, first.Err, hint))
	}
	if err != nil {
		return c.atLine(lines[0], fail(verb, err))
	}
	return nil
}
