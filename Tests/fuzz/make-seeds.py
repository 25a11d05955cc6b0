#!/usr/bin/env python3
"""Writes the seed corpora of scripts/fuzz-recover into Tests/fuzz/<target>/ (see README.md)."""
import os, struct

here = os.path.dirname(os.path.abspath(__file__))

def write(target, name, data):
    os.makedirs(os.path.join(here, target), exist_ok=True)
    with open(os.path.join(here, target, name), "wb") as f:
        f.write(data)

# context: byte 0 even = text, odd = binary
write("context", "text-sampled", b"\x00" + b"00-0123456789abcdef-01")
write("context", "text-upper", b"\x00" + b"00-0123456789ABCDEF-01")
write("context", "text-unsampled", b"\x00" + b"00-0000000000000000-00")
write("context", "text-bad-flags", b"\x00" + b"00-0123456789abcdef-00")
write("context", "binary-sampled", b"\x01" + bytes([0, 1]) + struct.pack(">Q", 0x0123456789abcdef))
write("context", "binary-version", b"\x01" + bytes([1, 1]) + struct.pack(">Q", 5))

# config: byte 0 flags, bytes 1-2 mask, [64 struct bytes], NUL-separated values
names = ["SPOOR_SAMPLING", "SPOOR_DIR", "SPOOR_SHM_NAME", "SPOOR_RING_SLOTS", "SPOOR_MAX_THREADS", "SPOOR_FLUSH_MS",
         "SPOOR_BLOCK_TIMEOUT_MS", "SPOOR_SEGMENT_BYTES", "SPOOR_SEED", "SPOOR_FULL_POLICY", "SPOOR_SINK"]
values = [b"probability:0.25", b"/tmp/spoor-traces", b"/spoor.fuzz", b"1024", b"8", b"5", b"100", b"1048576", b"42",
          b"block", b"none"]
write("config", "env-all", bytes([0, 0xff, 0x07]) + b"\0".join(values))
write("config", "env-sampling", bytes([0, 1, 0]) + b"every:10")
write("config", "env-bad-slots", bytes([0, 8, 0]) + b" 1000 ")
write("config", "env-rate", bytes([0, 1, 0]) + b"rate:4294967295")
def config_struct(ring_slots=0, max_threads=0, flush=0, policy=0, block=0, sink=0, segment=0, seed=0, mode=0, prob=0.0):
    return struct.pack("<IIIIIIIIQQIId", 0, 0, ring_slots, max_threads, flush, policy, block, sink, segment, seed, mode, 0, prob)
write("config", "struct-defaults", bytes([1, 0, 0]) + config_struct())
write("config", "struct-set", bytes([7, 0, 0]) + config_struct(4096, 16, 20, 1, 500, 1, 1 << 20, 7, 3, 0.5) + b"/tmp/x\0/spoor.y")
write("config", "struct-and-env", bytes([1, 0x09, 0]) + config_struct(128) + b"key:0.1\0" + b"256")

# segment: structured (see harness/segment.swift)
def report(id, parents=(), attach=b"", kind=2):
    h = struct.pack("<QQQQQIIIIHBBI", id, parents[0] if parents else 0, id * 31, 100, 200, 1, 0xffffffff, 4242,
                    len(parents), len(attach), kind, 0, 1)
    ext = b"".join(struct.pack("<Q", p) for p in parents[1:]) + attach
    return h + ext + b"\0" * ((-len(ext)) % 64)
def pair(key, value):
    return bytes([len(key), len(value) & 0xff, len(value) >> 8]) + key + value
def segment(rings, slots_code, reports, tail=0, operators=1, patches=b"\0" * 8):
    slots = b"".join(reports)
    head_delta = len(slots) // 64
    ring = struct.pack("<QHQQ", tail, head_delta, 0, len(reports))
    return bytes([0, rings, slots_code]) + patches + ring * (1 + rings % 4) + bytes([operators]) + slots
simple = [report(1, (7,)), report(2, kind=1), report(3, kind=3), report(4, (1, 2, 3), pair(b"k", b"v" * 20))]
write("segment", "one-ring", segment(0, 0, simple))
write("segment", "two-rings-wrap", segment(1, 1, simple * 3, tail=(1 << 63) - 5))
write("segment", "bad-attachment", segment(0, 0, [report(1, (7,)), report(2, (8,), b"\0\1\0x"), report(3, (9,))]))
write("segment", "big-report", segment(3, 4, [report(1, tuple(range(1, 200)), pair(b"key", bytes(1000)))]))
write("segment", "bad-kind", segment(0, 0, [report(1, (7,)), report(2, kind=7)]))
write("segment", "header-patch", segment(0, 0, simple, patches=bytes([24, 1, 104, 3, 8, 2, 16, 64])))
write("segment", "raw-small", b"\x01" + struct.pack("<Q", 0x4d4853524f4f5053) + bytes(4088))
