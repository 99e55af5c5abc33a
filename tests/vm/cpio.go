package vm

import (
	"bufio"
	"fmt"
	"io"
	"path"
	"strings"
)

// CPIOWriter writes a "newc" (SVR4, no CRC) cpio archive, the format the
// kernel unpacks as an initramfs. Parent directories are created on demand,
// mode 0755, before the first entry inside them.
type CPIOWriter struct {
	w    *bufio.Writer
	ino  uint32
	dirs map[string]bool
	err  error
}

// NewCPIOWriter returns a writer appending an archive to w. Close must be
// called to write the trailer.
func NewCPIOWriter(w io.Writer) *CPIOWriter {
	return &CPIOWriter{w: bufio.NewWriter(w), ino: 300000, dirs: map[string]bool{".": true, "": true}}
}

// File mode type bits, as in <sys/stat.h>.
const (
	cpioModeDir  = 0o040000
	cpioModeReg  = 0o100000
	cpioModeLink = 0o120000
	cpioModeChr  = 0o020000
)

// CPIOHeader is one archive entry's metadata.
type CPIOHeader struct {
	Name      string // relative, no leading slash
	Mode      uint32 // type and permission bits
	UID, GID  uint32
	NLink     uint32
	MTime     uint32
	Size      uint32
	RDevMajor uint32 // device nodes only
	RDevMinor uint32
}

func cleanName(name string) string {
	return strings.TrimPrefix(path.Clean("/"+name), "/")
}

func (cw *CPIOWriter) header(h CPIOHeader) {
	if cw.err != nil {
		return
	}
	cw.ino++
	name := h.Name
	fields := []uint32{cw.ino, h.Mode, h.UID, h.GID, max(h.NLink, 1), h.MTime, h.Size,
		0, 0, h.RDevMajor, h.RDevMinor, uint32(len(name) + 1), 0}
	var sb strings.Builder
	sb.WriteString("070701")
	for _, f := range fields {
		fmt.Fprintf(&sb, "%08X", f)
	}
	sb.WriteString(name)
	sb.WriteByte(0)
	for (sb.Len())%4 != 0 {
		sb.WriteByte(0)
	}
	_, cw.err = cw.w.WriteString(sb.String())
}

func (cw *CPIOWriter) data(b []byte) {
	if cw.err != nil {
		return
	}
	if _, cw.err = cw.w.Write(b); cw.err != nil {
		return
	}
	if pad := (4 - len(b)%4) % 4; pad > 0 {
		_, cw.err = cw.w.Write(make([]byte, pad))
	}
}

// parents creates the missing parent directories of name.
func (cw *CPIOWriter) parents(name string) {
	dir := path.Dir(name)
	if cw.dirs[dir] {
		return
	}
	cw.parents(dir)
	cw.dirs[dir] = true
	cw.header(CPIOHeader{Name: dir, Mode: cpioModeDir | 0o755, NLink: 2})
}

// Dir adds a directory (and its parents).
func (cw *CPIOWriter) Dir(name string, perm uint32) error {
	name = cleanName(name)
	if cw.dirs[name] {
		return cw.err
	}
	cw.parents(name)
	cw.dirs[name] = true
	cw.header(CPIOHeader{Name: name, Mode: cpioModeDir | perm&0o7777, NLink: 2})
	return cw.err
}

// File adds a regular file with the given contents.
func (cw *CPIOWriter) File(name string, perm uint32, contents []byte) error {
	name = cleanName(name)
	if uint64(len(contents)) > 1<<32-1 {
		return fmt.Errorf("cpio: %s is too large (%d bytes)", name, len(contents))
	}
	cw.parents(name)
	cw.header(CPIOHeader{Name: name, Mode: cpioModeReg | perm&0o7777, Size: uint32(len(contents))})
	cw.data(contents)
	return cw.err
}

// Symlink adds a symbolic link name -> target.
func (cw *CPIOWriter) Symlink(name, target string) error {
	name = cleanName(name)
	cw.parents(name)
	cw.header(CPIOHeader{Name: name, Mode: cpioModeLink | 0o777, Size: uint32(len(target))})
	cw.data([]byte(target))
	return cw.err
}

// CharDev adds a character device node.
func (cw *CPIOWriter) CharDev(name string, perm, major, minor uint32) error {
	name = cleanName(name)
	cw.parents(name)
	cw.header(CPIOHeader{Name: name, Mode: cpioModeChr | perm&0o7777, RDevMajor: major, RDevMinor: minor})
	return cw.err
}

// Close writes the trailer and flushes. It does not close the underlying
// writer.
func (cw *CPIOWriter) Close() error {
	cw.header(CPIOHeader{Name: "TRAILER!!!"})
	if cw.err != nil {
		return cw.err
	}
	return cw.w.Flush()
}
