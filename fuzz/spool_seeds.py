#!/usr/bin/env python3
"""Writes the seeds of fuzz_spool (fuzz/corpus/spool/) in the harness's input format
(see fuzz/fuzz_spool.c): spools a crash or a disk could leave, with real CRC32Cs."""
import os
import struct
import sys


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def record(seq, payload):
    body = struct.pack(">Q", seq) + payload
    return struct.pack(">II", len(payload), crc32c(body)) + body


def records(first, payloads):
    return b"".join(record(first + i, p) for i, p in enumerate(payloads))


ALERT = b'{"rule":{"id":"ssh.bruteforce"},"source":{"ip":"203.0.113.50"}}'


def seed(flags, max_record=200, max_bytes=0, seg_bytes=20, meta=b"", segs=(), tail=b""):
    out = bytes([flags, max_record, max_bytes, seg_bytes]) + meta
    for name, data in segs:
        out += (bytes([name]) if isinstance(name, int) else b"\xff" + struct.pack(">Q", name[0]))
        out += struct.pack(">H", len(data)) + data
    return out + tail


def meta16(epoch, acked):
    return struct.pack(">QQ", epoch, acked)


APPEND = 0x40
NEW_EPOCH = 0x80
FIX = 0x20
META_IN, META_RAW, META_OK = 0x08, 0x10, 0x18
three = records(1, [ALERT, b"", ALERT + b"2"])
seeds = {
    "empty": seed(0),
    "empty_append": seed(APPEND | META_OK, tail=ALERT),
    "one_segment": seed(1 | META_IN, meta=meta16(1733000000 << 20, 0), segs=[(0, three)]),
    "acked_in_segment": seed(1 | META_IN | APPEND, meta=meta16(7, 2), segs=[(0, three)],
                             tail=b"next"),
    "two_segments": seed(2 | APPEND, segs=[(0, three), (254, records(4, [ALERT]))],
                         tail=b"more"),
    "torn_tail": seed(2, segs=[(0, three), (254, records(4, [ALERT, ALERT])[:-7])]),
    "bad_crc_first": seed(2, segs=[(0, three[:20] + b"X" + three[21:]),
                                   (254, records(4, [ALERT]))]),
    "gap": seed(2, segs=[(0, three), (9, records(10, [ALERT]))]),
    "empty_last": seed(2 | APPEND, segs=[(0, three), (254, b"")], tail=b"x"),
    "over_max_record": seed(1, max_record=2, segs=[(0, records(1, [ALERT]))]),
    "meta_garbage": seed(1 | META_RAW, meta=bytes([9]) + b"not meta\n", segs=[(0, three)]),
    "meta_raw_valid": seed(1 | META_RAW, meta=bytes([30]) + b"ward-spool 1\nepoch 5\nacked 1\n",
                           segs=[(0, three)]),
    "meta_epoch_zero": seed(META_IN, meta=meta16(0, 0)),
    "big_name": seed(1 | APPEND, segs=[((1 << 40,), records(1 << 40, [ALERT]))], tail=b"y"),
    "new_epoch": seed(1 | META_IN | APPEND | NEW_EPOCH, meta=meta16(7, 0), segs=[(0, three)],
                      tail=bytes([1]) + b"after"),
    "rebuilt_base_new_epoch": seed(1 | APPEND | NEW_EPOCH, segs=[(40, records(41, [ALERT] * 3))],
                                   tail=bytes([2]) + b"then"),
    "full": seed(1 | APPEND, max_bytes=2, segs=[(0, three)], tail=ALERT),
    "repaired": seed(3 | FIX | APPEND, segs=[(0, struct.pack(">I", 4) + b"\0" * 12 + b"abcd"),
                                             (254, struct.pack(">I", 0) + b"\0" * 12),
                                             (254, b"\0" * 40)], tail=b"z"),
}
outdir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__),
                                                            "corpus", "spool")
os.makedirs(outdir, exist_ok=True)
for name, data in seeds.items():
    with open(os.path.join(outdir, name), "wb") as f:
        f.write(data)
