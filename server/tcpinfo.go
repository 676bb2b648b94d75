package server

import (
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// tcpTotals sums the kernel's TCP_INFO of every connection as it closes:
// what a benchmark needs to count bytes on the wire from counters rather
// than estimates (segments carry 52 bytes of IPv4+TCP headers with
// timestamps each, retransmissions cost extra).
type tcpTotals struct {
	conns         atomic.Uint64
	segsIn        atomic.Uint64 // segments received, pure ACKs included
	segsOut       atomic.Uint64 // segments sent, ACKs and downlink included
	dataSegsIn    atomic.Uint64
	bytesReceived atomic.Uint64 // payload bytes received
	bytesSent     atomic.Uint64 // payload bytes sent (downlink), retransmissions included
	bytesRetrans  atomic.Uint64
	retransSegs   atomic.Uint64
}

// TCPInfo is the JSON form of tcpTotals.
type TCPInfo struct {
	Conns         uint64 `json:"conns"`
	SegsIn        uint64 `json:"segs_in"`
	SegsOut       uint64 `json:"segs_out"`
	DataSegsIn    uint64 `json:"data_segs_in"`
	BytesReceived uint64 `json:"bytes_received"`
	BytesSent     uint64 `json:"bytes_sent"`
	BytesRetrans  uint64 `json:"bytes_retrans"`
	RetransSegs   uint64 `json:"retrans_segs"`
}

// addTCPInfo reads fd's TCP_INFO and adds it to t. Called once per
// connection, as it closes (from its event loop or goroutine).
func (t *tcpTotals) add(fd int) {
	ti, err := unix.GetsockoptTCPInfo(fd, unix.IPPROTO_TCP, unix.TCP_INFO)
	if err != nil {
		return
	}
	t.conns.Add(1)
	t.segsIn.Add(uint64(ti.Segs_in))
	t.segsOut.Add(uint64(ti.Segs_out))
	t.dataSegsIn.Add(uint64(ti.Data_segs_in))
	t.bytesReceived.Add(ti.Bytes_received)
	t.bytesSent.Add(ti.Bytes_sent)
	t.bytesRetrans.Add(ti.Bytes_retrans)
	t.retransSegs.Add(uint64(ti.Total_retrans))
}

func (t *tcpTotals) snapshot() TCPInfo {
	return TCPInfo{Conns: t.conns.Load(), SegsIn: t.segsIn.Load(), SegsOut: t.segsOut.Load(),
		DataSegsIn: t.dataSegsIn.Load(), BytesReceived: t.bytesReceived.Load(), BytesSent: t.bytesSent.Load(),
		BytesRetrans: t.bytesRetrans.Load(), RetransSegs: t.retransSegs.Load()}
}
