// This file reads the constants and struct layouts of a C UAPI header,
// so that tests can check that Go code mirroring the header agrees with it.
//
// It understands what UAPI headers hold: object-like #defines of integer
// expressions or string literals, enumerators (implicitly numbered or
// not), and structs of fixed-size kernel types. Function-like macros and
// empty #defines such as include guards are ignored. It lives in a test
// file so that the packages mirroring the header do not link it.

package uapi

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"regexp"
	"strconv"
	"strings"
)

// A Header holds the constants and structs of a header.
type Header struct {
	exprs   map[string]string // constant name → C expression
	names   []string          // constant names in header order
	structs map[string]string // struct name → body between its braces
}

// A Field is a field of a C struct.
type Field struct {
	Name   string
	Offset int // in bytes
	Size   int // in bytes, of the whole array for an array
}

func (f Field) String() string { return fmt.Sprintf("%s@%d+%d", f.Name, f.Offset, f.Size) }

var (
	commentRE = regexp.MustCompile(`(?s)/\*.*?\*/|//[^\n]*`)
	defineRE  = regexp.MustCompile(`(?m)^[ \t]*#[ \t]*define[ \t]+([A-Za-z_]\w*)([^\n]*)$`)
	enumRE    = regexp.MustCompile(`(?s)\benum\b[^{;]*\{(.*?)\}`)
	structRE  = regexp.MustCompile(`(?s)\bstruct[ \t\n]+(\w+)[ \t\n]*\{(.*?)\}[ \t\n]*;`)
	fieldRE   = regexp.MustCompile(`^([\w ]+?) (\w+)(?: ?\[ ?(\w+) ?\])?$`)
	suffixRE  = regexp.MustCompile(`\b(0[xX][0-9a-fA-F]+|[0-9]+)[uUlL]+\b`)
)

// ParseFile reads the header at path.
func ParseFile(path string) (*Header, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(b), nil
}

// Parse reads a header's source. Nothing is evaluated until asked for.
func Parse(src []byte) *Header {
	s := strings.ReplaceAll(string(src), "\\\n", " ")
	s = commentRE.ReplaceAllString(s, " ")

	h := &Header{exprs: make(map[string]string), structs: make(map[string]string)}
	add := func(name, expr string) {
		if _, dup := h.exprs[name]; !dup {
			h.names = append(h.names, name)
		}
		h.exprs[name] = expr
	}
	for _, m := range defineRE.FindAllStringSubmatch(s, -1) {
		// A function-like macro has its "(" right after the name.
		if expr := strings.TrimSpace(m[2]); expr != "" && !strings.HasPrefix(m[2], "(") {
			add(m[1], expr)
		}
	}
	for _, m := range enumRE.FindAllStringSubmatch(s, -1) {
		next := "0"
		for _, e := range strings.Split(m[1], ",") {
			name, expr, explicit := strings.Cut(strings.TrimSpace(e), "=")
			name = strings.TrimSpace(name)
			if name == "" {
				continue
			}
			if explicit {
				next = "(" + strings.TrimSpace(expr) + ")"
			}
			add(name, next)
			next = "(" + name + ") + 1"
		}
	}
	for _, m := range structRE.FindAllStringSubmatch(s, -1) {
		h.structs[m[1]] = m[2]
	}
	return h
}

// Names returns the names of the header's constants: its #defines, then
// its enumerators, each in the order the header gives them.
func (h *Header) Names() []string { return h.names }

// Int evaluates the integer constant name.
func (h *Header) Int(name string) (int64, error) {
	return h.eval(name, make(map[string]bool))
}

// Text returns the value of the string constant name.
func (h *Header) Text(name string) (string, error) {
	expr, ok := h.exprs[name]
	if !ok {
		return "", fmt.Errorf("%s: not defined", name)
	}
	if s, err := strconv.Unquote(expr); err == nil && strings.HasPrefix(expr, `"`) {
		return s, nil
	}
	if _, ok := h.exprs[expr]; ok {
		return h.Text(expr)
	}
	return "", fmt.Errorf("%s: not a string literal: %s", name, expr)
}

func (h *Header) eval(name string, seen map[string]bool) (int64, error) {
	expr, ok := h.exprs[name]
	if !ok {
		return 0, fmt.Errorf("%s: not defined", name)
	}
	if seen[name] {
		return 0, fmt.Errorf("%s: defined in terms of itself", name)
	}
	seen[name] = true
	defer delete(seen, name)

	x, err := parser.ParseExpr(suffixRE.ReplaceAllString(expr, "$1"))
	if err != nil {
		return 0, fmt.Errorf("%s: cannot parse %q", name, expr)
	}
	v, err := h.evalExpr(x, seen)
	if err != nil {
		return 0, fmt.Errorf("%s: %v", name, err)
	}
	return v, nil
}

// evalExpr evaluates the integer C expressions UAPI headers use, all of
// which parse as Go expressions: literals, other constants, parentheses,
// unary and binary arithmetic.
func (h *Header) evalExpr(x ast.Expr, seen map[string]bool) (int64, error) {
	switch x := x.(type) {
	case *ast.BasicLit:
		if x.Kind != token.INT {
			return 0, fmt.Errorf("not an integer: %s", x.Value)
		}
		lit := x.Value
		if len(lit) > 1 && lit[0] == '0' && lit[1] >= '0' && lit[1] <= '7' {
			lit = "0o" + lit[1:] // C octal
		}
		return strconv.ParseInt(lit, 0, 64)
	case *ast.Ident:
		return h.eval(x.Name, seen)
	case *ast.ParenExpr:
		return h.evalExpr(x.X, seen)
	case *ast.UnaryExpr:
		v, err := h.evalExpr(x.X, seen)
		if err != nil {
			return 0, err
		}
		switch x.Op {
		case token.SUB:
			return -v, nil
		case token.ADD:
			return v, nil
		case token.TILDE, token.XOR:
			return ^v, nil
		}
		return 0, fmt.Errorf("unsupported operator %s", x.Op)
	case *ast.BinaryExpr:
		a, err := h.evalExpr(x.X, seen)
		if err != nil {
			return 0, err
		}
		b, err := h.evalExpr(x.Y, seen)
		if err != nil {
			return 0, err
		}
		switch x.Op {
		case token.ADD:
			return a + b, nil
		case token.SUB:
			return a - b, nil
		case token.MUL:
			return a * b, nil
		case token.QUO:
			if b == 0 {
				return 0, fmt.Errorf("division by zero")
			}
			return a / b, nil
		case token.SHL:
			return a << b, nil
		case token.SHR:
			return a >> b, nil
		case token.OR:
			return a | b, nil
		case token.AND:
			return a & b, nil
		}
		return 0, fmt.Errorf("unsupported operator %s", x.Op)
	}
	return 0, fmt.Errorf("cannot evaluate %T", x)
}

// cTypes gives the size, which is also the alignment, of the fixed-size
// types UAPI structs are made of.
var cTypes = map[string]int{
	"__kernel_sa_family_t": 2,
	"__u8":                 1, "__s8": 1,
	"__u16": 2, "__s16": 2, "__be16": 2, "__le16": 2,
	"__u32": 4, "__s32": 4, "__be32": 4, "__le32": 4,
	"__u64": 8, "__s64": 8, "__be64": 8, "__le64": 8,
}

// Struct lays out the struct name with the C rules and returns its fields
// and its size.
func (h *Header) Struct(name string) (fields []Field, size int, err error) {
	body, ok := h.structs[name]
	if !ok {
		return nil, 0, fmt.Errorf("struct %s: not defined", name)
	}
	var off, align int
	for _, decl := range strings.Split(body, ";") {
		decl = strings.Join(strings.Fields(decl), " ")
		if decl == "" {
			continue
		}
		m := fieldRE.FindStringSubmatch(decl)
		if m == nil {
			return nil, 0, fmt.Errorf("struct %s: cannot parse field %q", name, decl)
		}
		typ, field, count := m[1], m[2], int64(1)
		tsize, ok := cTypes[typ]
		if !ok {
			return nil, 0, fmt.Errorf("struct %s: field %s: unsupported type %s", name, field, typ)
		}
		if m[3] != "" {
			if count, err = strconv.ParseInt(m[3], 0, 64); err != nil {
				if count, err = h.Int(m[3]); err != nil {
					return nil, 0, fmt.Errorf("struct %s: field %s: array length: %v", name, field, err)
				}
			}
		}
		off = (off + tsize - 1) / tsize * tsize
		fields = append(fields, Field{Name: field, Offset: off, Size: tsize * int(count)})
		off += tsize * int(count)
		align = max(align, tsize)
	}
	if align > 0 {
		off = (off + align - 1) / align * align
	}
	return fields, off, nil
}
