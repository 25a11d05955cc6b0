// Shared by the fuzz harnesses and the seed generator (compiled into one module with the
// Sources/SpoorLog files, so internal declarations are visible).

/// `report` in ring slots, as the producer lays it out.
func fuzzSlots(_ report: Report) -> [UInt8] { ReportLayout.slots(of: report) }

/// Stops the fuzzer with a message (libFuzzer reports the input as a crash).
func fuzzFail(_ message: String) -> Never {
    fatalError("fuzz invariant violated: \(message)")
}
