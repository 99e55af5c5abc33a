//go:build !linux

// Command mhostctl controls the mhost kernel module, which exists on
// Linux only: elsewhere it says so.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "mhostctl: the mhost module needs Linux")
	os.Exit(1)
}
