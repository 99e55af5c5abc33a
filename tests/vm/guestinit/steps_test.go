package main

import (
	"strings"
	"sync"
	"testing"
)

func TestLineWriter(t *testing.T) {
	var mu sync.Mutex
	var out strings.Builder
	a := &lineWriter{mu: &mu, w: &out, prefix: "srv| "}
	b := &lineWriter{mu: &mu, w: &out}
	a.Write([]byte("one\ntw"))
	b.Write([]byte("fore"))
	a.Write([]byte("o\n"))
	b.Write([]byte("ground\nx"))
	a.Write([]byte("three"))
	a.Flush()
	b.Flush()
	want := "srv| one\nsrv| two\nforeground\nsrv| three\nx\n"
	if out.String() != want {
		t.Errorf("got %q, want %q", out.String(), want)
	}
}

// TestLineWriterOnLine checks that the ready hook sees each whole line,
// without the prefix.
func TestLineWriterOnLine(t *testing.T) {
	var mu sync.Mutex
	var out strings.Builder
	var lines []string
	w := &lineWriter{mu: &mu, w: &out, prefix: "srv| ", onLine: func(l string) { lines = append(lines, l) }}
	w.Write([]byte("listen"))
	if len(lines) != 0 {
		t.Errorf("saw %q before the line ended", lines)
	}
	w.Write([]byte("ing on *:7000\nnext\nla"))
	w.Flush()
	if want := []string{"listening on *:7000", "next", "la"}; strings.Join(lines, "|") != strings.Join(want, "|") {
		t.Errorf("lines %q, want %q", lines, want)
	}
}

func TestModuleName(t *testing.T) {
	for in, want := range map[string]string{
		"/lib/modules/extra/mhost.ko":           "mhost",
		"/lib/modules/extra/mhost-testproto.ko": "mhost_testproto",
		"kernel/drivers/net/veth.ko.xz":         "veth",
	} {
		if got := moduleName(in); got != want {
			t.Errorf("moduleName(%q) = %q, want %q", in, got, want)
		}
	}
}
