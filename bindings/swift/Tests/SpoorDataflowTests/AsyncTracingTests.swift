import Spoor
import SpoorLineage
import Testing

extension SwiftAPITests {
    @Test("an AsyncSequence pipeline is traced by swapping in the traced operators")
    func asyncPipeline() async throws {
        let text = sentences(200)
        var configuration = Configuration()
        configuration.logDirectory = temporaryDirectory()
        configuration.sampling = .all
        configuration.readEnvironment = false
        try Spoor.start(configuration)
        let source = Operator("lines")
        let stream = AsyncStream<String> { continuation in
            for line in text { continuation.yield(line) }
            continuation.finish()
        }
        let total = try await stream
            .traced(at: source) { $0.traceKeyHash }
            .tracedFlatMap(Operator("split")) { $0.split(separator: " ").map(String.init) }
            .tracedFilter(Operator("long")) { $0.count > 3 }
            .tracedMap(Operator("length")) { $0.count }
            .tracedReduce(into: 0, Operator("sum")) { $0 += $1 }
        try Spoor.flush()
        let run = try #require(Spoor.runDirectory)
        try Spoor.shutdown()
        let expected = text.flatMap { $0.split(separator: " ") }.filter { $0.count > 3 }.reduce(0) { $0 + $1.count }
        #expect(total.value == expected)
        #expect(total.isTracked)
        let graph = try LineageGraph(logAt: run)
        #expect(graph.entries(of: total.id.rawValue).count == text.count, "every sentence contributed to the sum")
        #expect(graph.records[total.id.rawValue]?.isFold == true)
    }
}
