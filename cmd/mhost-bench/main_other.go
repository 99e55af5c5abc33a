//go:build !linux

// Command mhost-bench measures the mhost kernel module, which exists on
// Linux only: elsewhere it says so.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "mhost-bench: the mhost module needs Linux")
	os.Exit(2)
}
