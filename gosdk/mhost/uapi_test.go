package mhost

import (
	"slices"
	"strings"
	"testing"

	"github.com/mnet/mnet/gosdk/internal/uapi"
)

// uapiHeader is the C header this package mirrors.
const uapiHeader = "../../kmod/include/uapi/linux/mhost.h"

// mirrored maps each constant of the UAPI header that the package mirrors,
// a #define or an enumerator, to its Go value: an integer or a string.
// Add a line here with every constant the package gains.
var mirrored = map[string]any{
	"AF_MHOST":          Family,
	"PF_MHOST":          Family,
	"ETH_P_MHOST":       EtherType,
	"MHOST_MAX_PAYLOAD": MaxPayload,
	"SOL_MHOST":         solMhost,
	"MHOST_RECVHOSTID":  optRecvHostID,
	"MHOST_REUSEPORT":   optReusePort,
	"AF_TESTPROTO":      FamilyTestProto,
	"AF_OTHERPROTO":     FamilyOtherProto,
}

// mirroredStructs maps each C struct the package encodes by hand to the
// offsets and sizes of the fields the Go code writes, and to its size.
var mirroredStructs = map[string]struct {
	fields []uapi.Field
	size   int
}{
	"sockaddr_mhost": {
		fields: []uapi.Field{
			{Name: "smh_family", Offset: smhFamilyOff, Size: 2},
			{Name: "smh_port", Offset: smhPortOff, Size: 2},
			{Name: "smh_hid", Offset: smhHIDOff, Size: 4},
			{Name: "smh_zero", Offset: smhZeroOff, Size: 8},
		},
		size: SizeofSockaddrMhost,
	},
	"sockaddr_mhost_eth": {
		fields: []uapi.Field{
			{Name: "sme_family", Offset: smeFamilyOff, Size: 2},
			{Name: "sme_port", Offset: smePortOff, Size: 2},
			{Name: "sme_ifindex", Offset: smeIfindexOff, Size: 4},
			{Name: "sme_addr", Offset: smeAddrOff, Size: smeZeroOff - smeAddrOff},
			{Name: "sme_zero", Offset: smeZeroOff, Size: SizeofSockaddrMhostEth - smeZeroOff},
		},
		size: SizeofSockaddrMhostEth,
	},
}

func TestUAPIConstants(t *testing.T) {
	h, err := uapi.ParseFile(uapiHeader)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range mirrored {
		switch want := want.(type) {
		case int:
			got, err := h.Int(name)
			if err != nil {
				t.Error(err)
			} else if got != int64(want) {
				t.Errorf("%s is %d (%#x) in the header, %d (%#x) in Go", name, got, got, want, want)
			}
		case string:
			got, err := h.Text(name)
			if err != nil {
				t.Error(err)
			} else if got != want {
				t.Errorf("%s is %q in the header, %q in Go", name, got, want)
			}
		default:
			t.Errorf("%s: mirrored as a %T, want an int or a string", name, want)
		}
	}

	var others []string
	for _, name := range h.Names() {
		if _, ok := mirrored[name]; !ok {
			others = append(others, name)
		}
	}
	t.Logf("%d constants of the header are not mirrored here: %s", len(others), strings.Join(others, " "))
}

func TestUAPIStructs(t *testing.T) {
	h, err := uapi.ParseFile(uapiHeader)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range mirroredStructs {
		fields, size, err := h.Struct(name)
		if err != nil {
			t.Error(err)
			continue
		}
		if !slices.Equal(fields, want.fields) || size != want.size {
			t.Errorf("struct %s:\nheader %v, size %d\nGo     %v, size %d",
				name, fields, size, want.fields, want.size)
		}
	}
}
