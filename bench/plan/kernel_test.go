package plan

import "testing"

func TestKernelSockets_Parse(t *testing.T) {
	ss := "0      0      127.0.0.1:7070 127.0.0.1:40000\n\t skmem:(r0,rb131072,t0,tb2626560,f4096,w0,o0,bl0,d0)\n" +
		"0      0      127.0.0.1:7070 127.0.0.1:40001 skmem:(r768,rb131072,t0,tb2626560,f3328,w0,o0,bl0,d0)\n"
	var k KernelSockets
	k.parse(ss)
	if k.Sockets != 2 || k.Bytes != 4096+768+3328 || k.RmemMax != 768 {
		t.Fatalf("%+v", k)
	}
	st := "sockets: used 55\nTCP: inuse 36 orphan 0 tw 2594 alloc 39 mem 118\nUDP: inuse 2 mem 7\n"
	if n, err := parseSockstat(st, "TCP"); n != 118 || err != nil {
		t.Fatal(n, err)
	}
	if n, err := parseSockstat(st, "UDP"); n != 7 || err != nil {
		t.Fatal(n, err)
	}
	if _, err := parseSockstat(st, "RAW"); err == nil {
		t.Fatal("RAW: no error")
	}
	slab := "slabinfo - version: 2.1\n# name <active_objs> <num_objs> <objsize> ...\n" +
		"TCP 94 156 2368 13 8 : tunables 0 0 0 : slabdata 12 12 0\n" +
		"eventpoll_epi 5262 6624 128 32 1 : tunables 0 0 0 : slabdata 207 207 0\n" +
		"sock_inode_cache 683 1007 832 19 4 : tunables 0 0 0 : slabdata 53 53 0\n" +
		"filp 1791 2142 192 21 1 : tunables 0 0 0 : slabdata 102 102 0\n" +
		"dentry 258845 261198 192 21 1 : tunables 0 0 0 : slabdata 12438 12438 0\n"
	if n, err := parseSlabPerSocket(slab); n != 2368+128+832+192+192 || err != nil {
		t.Fatal(n, err)
	}
	if _, err := parseSlabPerSocket("TCP 1 1 2368 1 1\n"); err == nil {
		t.Fatal("no filp: no error")
	}
}
