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
