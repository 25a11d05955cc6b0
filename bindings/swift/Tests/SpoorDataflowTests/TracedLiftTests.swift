import Spoor
import SpoorLineage
import SpoorLog
import Testing

@Suite("Swift API and dataflow", .serialized)
struct SwiftAPITests {
    @Test("every lift reports its parents, operator, attachment and call site")
    func lifts() throws {
        let (ids, graph, _) = try traced {
            let source = Operator("source")
            let split = Operator("split")
            let entry = Traced.enter("a b c", at: source, keyHash: 7)
            #expect(entry.isTracked)
            let mapped = entry.map(attachment: ["phase": "upper"]) { $0.uppercased() }  // call-site operator
            let words = mapped.flatMap(split) { $0.split(separator: " ").map(String.init) }
            let kept = words[0].filter { $0 == "A" }
            let dropped = words[1].filter { $0 == "A" }
            let pair = words[1].combine(words[2]) { $0 + $1 }
            let counted = pair.combine(Traced.enter(5, at: source)) { text, number in text + String(number) }
            let poked = counted.poke(.shuffleWrite)
            var sideEffect = ""
            poked.forEach { sideEffect = $0 }
            #expect(sideEffect == "BC5")
            #expect(dropped == nil)
            return (entry: entry.id.rawValue, mapped: mapped.id.rawValue, words: words.map(\.id.rawValue),
                    kept: kept?.id.rawValue ?? 0, pair: pair.id.rawValue, counted: counted.id.rawValue)
        }
        let mapped = try #require(graph.records[ids.mapped])
        #expect(mapped.parents == [ids.entry])
        let mapName = try #require(graph.operatorName(of: ids.mapped))
        #expect(mapName.hasPrefix("map@") && mapName.contains("TracedLiftTests.swift:"), "call site recorded without the user passing it: \(mapName)")
        #expect(mapped.endNanos >= mapped.startNanos && mapped.startNanos > 0)
        #expect(ids.words == [ids.words[0], ids.words[0] + 1, ids.words[0] + 2], "flatMap outputs get consecutive ids")
        #expect(ids.words.allSatisfy { graph.records[$0]?.parents == [ids.mapped] })
        #expect(graph.operatorName(of: ids.words[0]) == "split")
        #expect(graph.records[ids.kept]?.parents == [ids.words[0]])
        #expect(graph.records[ids.words[1]]?.events.contains { $0.event == RecordEvent.filtered.code } == true)
        #expect(graph.records[ids.pair]?.parents == [ids.words[1], ids.words[2]])
        #expect(graph.records[ids.counted]?.parents.count == 2)
        #expect(graph.records[ids.counted]?.events.contains { $0.event == RecordEvent.shuffleWrite.code } == true)
        // forEach reports the side effect's application, then its exit.
        let sideEffect = try #require(graph.forward(from: ids.counted).first)
        #expect(graph.records[sideEffect]?.events.contains { $0.event == RecordEvent.exit.code } == true)
        #expect(graph.entries(of: sideEffect).count == 2)
    }

    @Test("the attachment reaches the log")
    func attachment() throws {
        let directory = temporaryDirectory()
        var configuration = Configuration()
        configuration.logDirectory = directory
        configuration.sampling = .all
        configuration.readEnvironment = false
        try Spoor.start(configuration)
        let record = Traced.enter(1, at: Operator("source")).map(Operator("double"), attachment: ["udf": "double", "cost": "low"]) { $0 * 2 }
        try Spoor.flush()
        let run = try #require(Spoor.runDirectory)
        try Spoor.shutdown()
        var found: Report?
        try LogReader(directory: run).read { entry in
            if case .reports(_, _, _, let reports) = entry, let match = reports.first(where: { $0.id == record.id.rawValue }) { found = match }
        }
        let report = try #require(found)
        #expect(report.attachment == [Attribute(key: Array("udf".utf8), value: Array("double".utf8)), Attribute(key: Array("cost".utf8), value: Array("low".utf8))])
    }

    @Test("untracked records produce no reports")
    func untracked() throws {
        let (_, graph, statistics) = try traced(sampling: .off) {
            let source = Operator("source")
            for index in 0..<1_000 {
                let record = Traced.enter(index, at: source)
                #expect(!record.isTracked)
                let words = record.map { $0 + 1 }.flatMap { [$0, $0] }
                _ = words[0].combine(words[1]) { $0 + $1 }.filter { $0 > 0 }?.poke(.shuffleRead)
                words[0].forEach { _ in }
                var fold = TraceFold()
                fold.add(words[0])
                #expect(!fold.finish(1, op: source).isTracked)
            }
        }
        #expect(statistics.written == 0)
        #expect(graph.records.isEmpty)
    }

    @Test("a context string continues the lineage in another process")
    func context() throws {
        let (ids, graph, _) = try traced {
            let entry = Traced.enter("x", at: Operator("source"))
            let context = entry.context
            #expect(context.count == 22 && context.hasSuffix("-01"))
            let continued = Traced("x", continuing: context).map(Operator("remote")) { $0 + "!" }
            return (entry.id.rawValue, continued.id.rawValue)
        }
        #expect(graph.records[ids.1]?.parents == [ids.0])
    }
}
