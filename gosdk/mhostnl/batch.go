package mhostnl

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/netlink"

	"github.com/mnet/mnet/gosdk/internal/uapi"
)

// batchSize is how many requests AddHosts and SetHosts put in one
// sendmsg(2). The kernel handles them one after the other and answers
// only the failures and the last request of a chunk, so the replies of a
// whole chunk, even if all of its requests fail, must fit in the socket's
// receive buffer (about 200 KiB by default; an error reply echoes its
// request, a few hundred bytes at most).
const batchSize = 128

// batchReadBuffer is the receive buffer batches ask for, best effort
// (the kernel caps it at twice net.core.rmem_max), for headroom when a
// whole chunk fails. NETLINK_CAP_ACK would shrink the error replies
// instead, but mdlayher/netlink then misses the extack message.
const batchReadBuffer = 1 << 20

// A BatchError reports the hosts of an AddHosts or SetHosts batch that
// the kernel refused. The hosts of the chunk in which the first failure
// happened were all sent; the following chunks were not.
type BatchError struct {
	// Errors are the hosts that failed, in batch order.
	Errors []HostError
	// Sent is the number of hosts, from the start of the batch, that
	// were sent: each of them is in the table unless listed in Errors.
	// Hosts from Sent on were not sent.
	Sent int
}

// A HostError is the failure of one host of a batch.
type HostError struct {
	Index int    // position in the batch
	ID    uint32 // host id
	Err   error  // an *Error
}

func (e *BatchError) Error() string {
	if len(e.Errors) == 0 {
		return "mhostnl: batch failed"
	}
	s := e.Errors[0].Err.Error()
	if n := len(e.Errors); n > 1 {
		s += fmt.Sprintf(" (and %d more failed hosts)", n-1)
	}
	return s
}

// Unwrap returns the errors of the failed hosts, so that errors.Is
// matches any of them, such as os.ErrPermission.
func (e *BatchError) Unwrap() []error {
	errs := make([]error, len(e.Errors))
	for i, he := range e.Errors {
		errs[i] = he.Err
	}
	return errs
}

// AddHosts adds hosts to the table as AddHost would, sending many of them
// per system call. It is the way to load large tables. When a host cannot
// be encoded, nothing is sent. When the kernel refuses hosts, AddHosts
// stops after the chunk in which that happened and returns a
// *BatchError; the other hosts of that chunk are added all the same.
func (c *Client) AddHosts(hosts []Host) error {
	return c.batch("add", hosts, uapi.HostFCreate)
}

// SetHosts adds or replaces hosts as SetHost would, sending many of them
// per system call, with the failure semantics of AddHosts.
func (c *Client) SetHosts(hosts []Host) error {
	return c.batch("set", hosts, uapi.HostFCreate|uapi.HostFReplace)
}

func (c *Client) batch(verb string, hosts []Host, flags uint32) error {
	op := verb + " hosts"
	for i := range hosts {
		if err := checkHost(&hosts[i]); err != nil {
			return opError(fmt.Sprintf("%s host %d (batch index %d)", verb, hosts[i].ID, i), err)
		}
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.bigBuffer {
		c.bigBuffer = true
		c.c.SetReadBuffer(batchReadBuffer) // best effort; the default works too
	}

	reqs := make([]genetlink.Message, 0, batchSize)
	for start := 0; start < len(hosts); start += batchSize {
		chunk := hosts[start:min(start+batchSize, len(hosts))]
		reqs = reqs[:0]
		for i := range chunk {
			attrs, err := encodeHost(&chunk[i], flags)
			if err != nil {
				return opError(op, err)
			}
			reqs = append(reqs, request(uapi.CmdHostNew, attrs))
		}
		sent, err := c.sendChunk(reqs)
		if err != nil {
			return opError(op, fmt.Errorf("after %d of %d hosts: %w", start, len(hosts), err))
		}
		failed, err := c.chunkReplies(sent, func(i int) string {
			return verb + " host " + strconv.FormatUint(uint64(chunk[i].ID), 10)
		})
		if err != nil {
			return opError(op, fmt.Errorf("after %d of %d hosts: %w", start, len(hosts), err))
		}
		if len(failed) > 0 {
			be := &BatchError{Sent: start + len(chunk)}
			for _, f := range failed {
				be.Errors = append(be.Errors, HostError{Index: start + f.index, ID: chunk[f.index].ID, Err: f.err})
			}
			return be
		}
	}
	return nil
}

// sendChunk sends the requests of a chunk, asking for the acknowledgement
// of the last one only: in one sendmsg over a connection the Client
// opened, one by one over another.
func (c *Client) sendChunk(reqs []genetlink.Message) ([]netlink.Message, error) {
	flags := func(i int) netlink.HeaderFlags {
		if i == len(reqs)-1 {
			return netlink.Request | netlink.Acknowledge // the end of the chunk's replies
		}
		return netlink.Request
	}
	if c.nc == nil {
		sent := make([]netlink.Message, len(reqs))
		for i, r := range reqs {
			var err error
			if sent[i], err = c.c.Send(r, c.family.ID, flags(i)); err != nil {
				return nil, err
			}
		}
		return sent, nil
	}
	msgs := make([]netlink.Message, len(reqs))
	for i, r := range reqs {
		b, err := r.MarshalBinary()
		if err != nil {
			return nil, err
		}
		msgs[i] = netlink.Message{Header: netlink.Header{Type: netlink.HeaderType(c.family.ID), Flags: flags(i)}, Data: b}
	}
	return c.nc.SendMessages(msgs)
}

type chunkFailure struct {
	index int
	err   error
}

// chunkReplies reads the replies to the requests sent, which only asked
// for an acknowledgement of the last one, and returns the failures.
func (c *Client) chunkReplies(sent []netlink.Message, op func(i int) string) ([]chunkFailure, error) {
	index := make(map[uint32]int, len(sent))
	for i, m := range sent {
		index[m.Header.Sequence] = i
	}
	last := sent[len(sent)-1].Header.Sequence
	var failed []chunkFailure
	for {
		_, replies, err := c.c.Receive()
		if err != nil {
			var oe *netlink.OpError
			if !errors.As(err, &oe) || oe.Sequence == 0 {
				return failed, err // the socket failed, not a request
			}
			i, ok := index[oe.Sequence]
			if !ok {
				continue // the error of an earlier request
			}
			failed = append(failed, chunkFailure{index: i, err: opError(op(i), err)})
			if oe.Sequence == last {
				return failed, nil
			}
			continue
		}
		if len(replies) == 0 {
			return failed, errors.New("netlink: empty reply")
		}
		for _, m := range replies {
			if m.Header.Sequence == last {
				return failed, nil
			}
		}
	}
}
