#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
#
# make_seeds.py - write the small hand-made seed corpora of the fuzz
# harnesses into test/fuzz/corpus/<harness>/.  The files are committed;
# run this only to regenerate them.  Reply seeds assume a fresh client
# numbers its requests 0, 1, 2, ... in submission order (the fuzzer finds
# other ids by itself).
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def put(harness, name, data):
    d = os.path.join(HERE, "corpus", harness)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ---- reply: config byte, 3 bytes per request, then the reply stream ----
# opcode index: 0 READ_OBJ 1 WRITE_OBJ 2 CREATE_AND_WRITE 3 GET_VDI_INFO
# 4 READ_VDIS 5 GET_CLUSTER_DEFAULT 6 GET_NODE_LIST 7 STAT_CLUSTER
OPS = [0x02, 0x03, 0x01, 0x14, 0x15, 0x18, 0x82, 0x87]


def cfg(op_idx, cap4, niov=1, write_len3=0, write=False):
    b0 = op_idx | (0x8 if write else 0)
    return bytes([b0, cap4, (niov - 1) | (write_len3 << 2)])


def rsp(op, rid, dlen, result=0, tail=b""):
    hdr = struct.pack("<BBHIIII", 0x02, op, 0, 1, rid, dlen, result)
    hdr += tail.ljust(28, b"\0")[:28]
    return hdr


def payload(n, seed=1):
    return bytes((seed * 13 + i * 5) & 0xff for i in range(n))


def reqs(*cfgs):
    return bytes([len(cfgs) - 1]) + b"".join(cfgs)


put("reply", "one-read", reqs(cfg(0, 16, 2)) + rsp(0x02, 0, 64) + payload(64))
put("reply", "two-reversed",
    reqs(cfg(0, 8), cfg(3, 4, 3)) +
    rsp(0x14, 1, 0, tail=struct.pack("<IIIBB", 0, 0x123456, 0, 3, 22)) +
    rsp(0x02, 0, 32) + payload(32, 2))
put("reply", "more-than-asked",
    reqs(cfg(0, 4, 4)) + rsp(0x02, 0, 100) + payload(100, 3))
put("reply", "drop-beyond-scratch",
    reqs(cfg(0, 2, 2)) + rsp(0x02, 0, 9000) + payload(9000, 4))
put("reply", "write-then-ack",
    reqs(cfg(1, 0, 1, 10, write=True), cfg(2, 0, 1, 5, write=True)) +
    rsp(0x03, 0, 0) + rsp(0x01, 1, 0, result=0x15))
put("reply", "bad-id", reqs(cfg(0, 4)) + rsp(0x02, 7, 0))
put("reply", "bad-opcode", reqs(cfg(0, 4)) + rsp(0x03, 0, 0))
put("reply", "duplicate", reqs(cfg(0, 4), cfg(0, 4)) +
    rsp(0x02, 0, 0) + rsp(0x02, 0, 0) + rsp(0x02, 1, 0))
put("reply", "cut-header", reqs(cfg(0, 4)) + rsp(0x02, 0, 0)[:30])
put("reply", "cut-payload", reqs(cfg(0, 64)) + rsp(0x02, 0, 200) + payload(50))
put("reply", "no-reply", reqs(cfg(5, 0), cfg(6, 1)))
put("reply", "eight-mixed",
    reqs(*[cfg(i, i * 3, 1 + i % 4) for i in range(8)]) +
    b"".join(rsp(OPS[i], i, i * 3, result=i) + payload(i * 3, i)
             for i in (7, 0, 6, 1, 5, 2, 4, 3)))
put("reply", "cluster-node-stat",
    reqs(cfg(5, 0), cfg(6, 8), cfg(7, 8)) +
    rsp(0x18, 0, 0, tail=bytes([1, 0, 22])) +
    rsp(0x82, 1, 8, tail=struct.pack("<I", 1)) + payload(8) +
    rsp(0x87, 2, 40) + payload(40))

# ---- addr: strings ----------------------------------------------------
ADDRS = {
    "unix": b"unix:/tmp/sheep.sock",
    "unix-target": b"unix:/run/sheep/sock:vdi0",
    "tcp4": b"tcp:127.0.0.1:7000",
    "tcp-name": b"tcp:sheep-1.example_net:7000",
    "tcp6": b"tcp:[::1]:7000",
    "tcp6-zone-target": b"tcp:[fe80::1%eth0]:7001:disk:snap-tag",
    "target-snapid": b"tcp:10.0.0.1:7000:vm.img:42",
    "target-tag": b"unix:/s:a:b",
    "bad-port": b"tcp:host:99999",
    "port-zeros": b"tcp:h:00007",
    "unbracketed6": b"tcp:::1:7000",
    "unterminated": b"tcp:[::1:7000",
    "empty-vdi": b"unix:/s::x",
    "trailing": b"tcp:h:1:v:t:extra",
    "scheme": b"nbd:host:10809",
    "ctl-chars": b"tcp:h\n:1\t",
    "snapid-big": b"unix:/s:v:4294967296",
    "long-path": b"unix:/" + b"p" * 120,
}
for name, s in ADDRS.items():
    put("addr", name, s)

# ---- inode: an inode header, then headers in its first 48 bytes -------
def inode(name, tag, vdi_size, vid, parent, snap_ctime=0, shift=22):
    b = bytearray(4664)
    b[0:len(name)] = name
    b[256:256 + len(tag)] = tag
    struct.pack_into("<QQQQQ", b, 512, 1700000000 << 32, snap_ctime, 0,
                     vdi_size, 0)
    b[552:556] = bytes([0, 0, 3, shift])
    struct.pack_into("<IIII", b, 556, 1, vid, parent, 0)
    return bytes(b)


put("inode", "inode-plain", inode(b"disk0", b"", 1 << 30, 0x7c2b25, 0))
put("inode", "inode-snapshot",
    inode(b"vm", b"before-upgrade", 10 << 30, 0x11, 0x10, snap_ctime=5))
put("inode", "inode-full-names", inode(b"n" * 256, b"t" * 256, 1, 1, 1))
put("inode", "req-obj", struct.pack("<BBHIII", 2, 0x03, 1, 0, 9, 512) +
    struct.pack("<QQBBBBII", 0x7c2b2500000001, 0, 3, 0, 0, 0, 0, 4096) +
    b"\xff" * 4)
put("inode", "req-vdi", struct.pack("<BBHIII", 2, 0x11, 1, 0, 1, 256) +
    struct.pack("<QIBBBBII", 1 << 30, 0, 3, 0, 0, 22, 0, 0) + b"\x01" * 8)
put("inode", "rsp-raw", bytes([2, 0x87]) + bytes(range(2, 48)))
put("inode", "rsp-cluster", struct.pack("<BBHIIII", 2, 0x18, 0, 0, 3, 0, 0) +
    bytes([3, 0, 22]) + b"\xee" * 25)
