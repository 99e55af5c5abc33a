//go:build linux

package mhost

import (
	"net"
	"net/netip"
	"testing"
)

// Host benchmarks of the batch path, over UDP as the tests here run.
// Loopback on the host says little about AF_MHOST's speed (see the gosdk
// group of mhost-bench for that); these show the Go side: how much laying
// out a batch costs, and batched against one datagram per call with
// -cpu 1, where a system call that loses its P costs most.

// BenchmarkPrepare lays out a batch of 32 sends to one destination.
func BenchmarkPrepare(b *testing.B) {
	dst := AddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:9"))
	p := make([]byte, 64)
	ms := make([]Message, 32)
	for i := range ms {
		ms[i] = Message{Buffers: [][]byte{p}, Addr: dst}
	}
	var bt batch
	b.ReportAllocs()
	for b.Loop() {
		if _, err := bt.prepareSend(ms, Family, true, false); err != nil {
			b.Fatal(err)
		}
		bt.release()
	}
}

// BenchmarkBatch sends 32 datagrams of 64 bytes to 127.0.0.1 and reads
// them back, in one goroutine: one per call with net.UDPConn ("udp-one",
// the yardstick, over the same dual-stack kind of socket) and with the
// SDK ("one"), and in batches: "batch", which WriteBatch segments, and
// "mmsg", 64 to 95 bytes long, each longer than the one before, which it
// cannot.
func BenchmarkBatch(b *testing.B) {
	server, client := udpConn(b, nil), udpConn(b, nil)
	dst := netip.MustParseAddrPort(to(server, "127.0.0.1").String())
	p := make([]byte, 64)
	const n = 32
	out, mixed := make([]Message, n), make([]Message, n)
	in := make([]Message, n)
	for i := range out {
		out[i] = Message{Buffers: [][]byte{p}, Addr: AddrFromAddrPort(dst)}
		mixed[i] = Message{Buffers: [][]byte{make([]byte, 64+i)}, Addr: AddrFromAddrPort(dst)}
		in[i] = Message{Buffers: [][]byte{make([]byte, 2048)}}
	}
	buf := make([]byte, 2048)
	b.Run("udp-one", func(b *testing.B) {
		rx, err := net.ListenUDP("udp", nil)
		if err != nil {
			b.Fatal(err)
		}
		defer rx.Close()
		tx, err := net.ListenUDP("udp", nil)
		if err != nil {
			b.Fatal(err)
		}
		defer tx.Close()
		to := netip.AddrPortFrom(dst.Addr(), uint16(rx.LocalAddr().(*net.UDPAddr).Port))
		b.ReportAllocs()
		for b.Loop() {
			for range n {
				if _, err := tx.WriteToUDPAddrPort(p, to); err != nil {
					b.Fatal(err)
				}
			}
			for range n {
				if _, _, err := rx.ReadFromUDPAddrPort(buf); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("one", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for range n {
				if _, err := client.WriteToAddrPort(p, dst); err != nil {
					b.Fatal(err)
				}
			}
			for range n {
				if _, _, err := server.ReadFromAddrPort(buf); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	batch := func(out []Message) func(*testing.B) {
		return func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if k, err := client.WriteBatch(out, 0); err != nil || k != n {
					b.Fatal(k, err)
				}
				for got := 0; got < n; {
					k, err := server.ReadBatch(in[got:], 0)
					if err != nil {
						b.Fatal(err)
					}
					got += k
				}
			}
		}
	}
	b.Run("batch", batch(out))
	b.Run("mmsg", batch(mixed))
}
