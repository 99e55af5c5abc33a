package uapi

import (
	"fmt"
	"slices"
	"testing"
)

const testHeader = `/* SPDX: comment */
#ifndef _X_H
#define _X_H
#include <linux/types.h>

#define A	27	/* trailing */
#define B	A
#define C	(1U << 3)
#define D	0x10UL | \
		C
#define F(x)	((x) + 1)
#define O	010
#define NAME	"mhost"
#define ALIAS	NAME
 # define  N	(~0 & 0xff)

enum x_cmd {
	X_UNSPEC,
	X_ONE,		// one
	X_TEN = 10,
	X_ELEVEN,
	__X_MAX,
};
#define X_MAX	(__X_MAX - 1)

struct s {
	__u8	a;
	__u32	b;
	__u16	c[X_TEN];
	__u8	d [ 3 ];
};
#endif /* _X_H */
`

func TestInt(t *testing.T) {
	h := Parse([]byte(testHeader))
	want := map[string]int64{
		"A": 27, "B": 27, "C": 8, "D": 0x18, "O": 8, "N": 0xff,
		"X_UNSPEC": 0, "X_ONE": 1, "X_TEN": 10, "X_ELEVEN": 11, "__X_MAX": 12, "X_MAX": 11,
	}
	for name, v := range want {
		if got, err := h.Int(name); err != nil || got != v {
			t.Errorf("Int(%s) = %d, %v; want %d", name, got, err, v)
		}
	}
	for _, name := range []string{"_X_H", "F", "NAME", "missing"} {
		if v, err := h.Int(name); err == nil {
			t.Errorf("Int(%s) = %d, want an error", name, v)
		}
	}
}

func TestText(t *testing.T) {
	h := Parse([]byte(testHeader))
	for _, name := range []string{"NAME", "ALIAS"} {
		if got, err := h.Text(name); err != nil || got != "mhost" {
			t.Errorf("Text(%s) = %q, %v; want \"mhost\"", name, got, err)
		}
	}
	if s, err := h.Text("A"); err == nil {
		t.Errorf("Text(A) = %q, want an error", s)
	}
}

func TestNames(t *testing.T) {
	h := Parse([]byte(testHeader))
	want := []string{"A", "B", "C", "D", "O", "NAME", "ALIAS", "N", "X_MAX",
		"X_UNSPEC", "X_ONE", "X_TEN", "X_ELEVEN", "__X_MAX"}
	if got := h.Names(); !slices.Equal(got, want) {
		t.Errorf("Names() = %v, want %v", got, want)
	}
}

func TestStruct(t *testing.T) {
	h := Parse([]byte(testHeader))
	fields, size, err := h.Struct("s")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := fmt.Sprint(fields, size), "[a@0+1 b@4+4 c@8+20 d@28+3] 32"; got != want {
		t.Errorf("Struct(s) = %s, want %s", got, want)
	}
	if _, _, err := h.Struct("missing"); err == nil {
		t.Error("Struct(missing): no error")
	}
	bad := Parse([]byte("struct t { struct s x; };"))
	if _, _, err := bad.Struct("t"); err == nil {
		t.Error("struct with a nested struct: no error")
	}
}

func TestSelfReference(t *testing.T) {
	h := Parse([]byte("#define A B\n#define B (A + 1)\n"))
	if v, err := h.Int("A"); err == nil {
		t.Errorf("Int(A) = %d, want an error", v)
	}
}
