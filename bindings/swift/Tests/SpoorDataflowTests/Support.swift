import Spoor
import SpoorDataflow
import SpoorLineage
import SpoorLog
import Testing

#if canImport(Glibc)
import Glibc
#endif

func temporaryDirectory() -> String {
    var template = Array("/tmp/spoor-flow-XXXXXX".utf8CString)
    return template.withUnsafeMutableBufferPointer { buffer in
        guard let base = buffer.baseAddress, mkdtemp(base) != nil else { return "/tmp" }
        return String(decoding: UnsafeRawBufferPointer(start: base, count: strlen(base)), as: UTF8.self)
    }
}

/// Runs `body` with Spoor started (log in a fresh directory), then flushes, shuts down and
/// returns the reconstructed lineage graph of the run with `body`'s result.
func traced<T>(
    sampling: Sampling = .all, mode: TracingMode = .direct, _ body: () throws -> T
) throws -> (result: T, graph: LineageGraph, statistics: Statistics) {
    var configuration = Configuration()
    configuration.logDirectory = temporaryDirectory()
    configuration.sampling = sampling
    configuration.mode = mode
    configuration.readEnvironment = false
    configuration.whenFull = .block
    configuration.ringSlots = 1 << 16
    try Spoor.start(configuration)
    let result = try body()
    try Spoor.flush()
    let statistics = try #require(Spoor.statistics)
    let run = try #require(Spoor.runDirectory)
    try Spoor.shutdown()
    return (result, try LineageGraph(logAt: run), statistics)
}

/// Deterministic sentences over a small vocabulary.
func sentences(_ count: Int, seed: UInt64 = 42) -> [String] {
    let vocabulary = ["alpha", "beta", "gamma", "delta", "eps", "zeta", "eta", "theta", "iota", "kappa"]
    var state = seed
    func next() -> Int {
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return Int(state >> 33)
    }
    return (0..<count).map { _ in (0..<(3 + next() % 8)).map { _ in vocabulary[next() % vocabulary.count] }.joined(separator: " ") }
}

/// The reference word count.
func wordCounts(_ text: [String]) -> [String: Int] {
    var counts: [String: Int] = [:]
    for sentence in text { for word in sentence.split(separator: " ") { counts[String(word), default: 0] += 1 } }
    return counts
}
