// libFuzzer target: the X-Trace and TraceBench readers and trace assembly (scripts/fuzz
// traceparsers).
//
// Input: byte 0 picks the reader (even: X-Trace reports; odd: TraceBench, where the text is cut
// at its first NUL into event.csv and edge.csv lines); the rest is the text. Every item is fed
// through a partition with a small cap (so eviction runs), every assembled trace is checked
// (`TraceGraph._checkInvariants`: acyclic adjacency, parent counts, roots) and its signatures
// computed; malformed input must come back as `IngestError`s with a line inside the input.

@_cdecl("LLVMFuzzerTestOneInput")
public func spoorFuzzTraceParsers(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    guard let data, size >= 1 else { return 0 }
    let input = UnsafeBufferPointer(start: data, count: size)
    let text = String(decoding: input[1...], as: UTF8.self)
    var labels = LabelTable()
    var configuration = ReconstructionConfiguration()
    configuration.maxOpenTraces = 4
    configuration.maxItemsPerTrace = 64
    var partition = TracePartition(configuration: configuration)
    var now: UInt64 = 0
    var scratch = SignatureScratch()
    let lineCount = TextFile.split(text).count
    func check(_ graph: TraceGraph, _ labels: LabelTable) {
        graph._checkInvariants()
        _ = scratch.signature(graph, labels: labels)
        _ = FlowFeatures(graph, labels: labels)
    }
    let issue: (IngestError) -> Void = { error in
        if error.line < 0 || error.line > lineCount + 1 { fuzzFail("error line \(error.line) outside the input (\(lineCount) lines)") }
    }
    let item: (TraceItem, LabelTable) -> Void = { item, labels in
        now &+= 1_000
        partition.accept(item, now: now) { check($0, labels) }
        partition._checkInvariants()
    }
    if input[0] & 1 == 0 {
        var parser = XTraceParser(source: "fuzz")
        for line in TextFile.split(text) { parser.feed(line: line, labels: &labels, issue: issue, item: item) }
        parser.finish(labels: &labels, issue: issue, item: item)
    } else {
        let parts = text.split(separator: "\0", maxSplits: 1, omittingEmptySubsequences: false)
        let events = TextFile.split(String(parts[0]))
        let edges = parts.count > 1 ? TextFile.split(String(parts[1])) : []
        var reader = TraceBenchReader()
        try? reader.read(events: events, eventSource: "event.csv", edges: edges, edgeSource: "edge.csv",
                         labels: &labels, issue: issue, item: item)
    }
    partition.expire(now: now &+ configuration.expiryNanos &+ 1) { check($0, labels) }
    partition.flush { check($0, labels) }
    partition._checkInvariants()
    return 0
}
