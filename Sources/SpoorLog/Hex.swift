/// A 64-bit value as 16 lowercase hex digits (how ids, key hashes and run ids are printed and
/// how run directory and shared-memory names spell the run id).
public func hex64(_ value: UInt64) -> String {
    let digits = String(value, radix: 16)
    return String(repeating: "0", count: 16 - digits.count) + digits
}
