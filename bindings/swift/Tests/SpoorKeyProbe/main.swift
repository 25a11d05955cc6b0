// Prints the trace hash of one key of every TraceKey type, one per line, so that a test can
// compare two processes (Swift seeds `hashValue` per process; the trace hash must not vary).
import Spoor

enum Color: String, TraceKey { case red }

let keys: [(String, UInt64)] = [
    ("String", "alpha".traceKeyHash),
    ("Substring", "xalpha".dropFirst().traceKeyHash),
    ("Character", Character("é").traceKeyHash),
    ("[UInt8]", [UInt8]([1, 2, 3]).traceKeyHash),
    ("Int", (-1).traceKeyHash),
    ("Int8", Int8(-1).traceKeyHash),
    ("Int16", Int16(-1).traceKeyHash),
    ("Int32", Int32(-1).traceKeyHash),
    ("Int64", Int64(-1).traceKeyHash),
    ("UInt", UInt(7).traceKeyHash),
    ("UInt8", UInt8(7).traceKeyHash),
    ("UInt16", UInt16(7).traceKeyHash),
    ("UInt32", UInt32(7).traceKeyHash),
    ("UInt64", UInt64(7).traceKeyHash),
    ("Bool", true.traceKeyHash),
    ("Double", 1.5.traceKeyHash),
    ("Float", Float(1.5).traceKeyHash),
    ("RawRepresentable", Color.red.traceKeyHash),
    ("hashValue", UInt64(bitPattern: Int64("alpha".hashValue))),
]
for (name, hash) in keys { print("\(name) \(hash)") }
