import Foundation
import SpoorLineage
import SpoorLog
import SpoorSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A pipeline with a flatMap, a join and a fold across two runs (ids chosen so that the log's
/// order is not id order):
///
///     a1 -> m1 -> f0 f1 f2 (flatMap, fan-out 3)
///     a2 -> m2
///     j  <- f1, m2        (join)          poked: error
///     z  <- f0, f2, j     (fold)          poked: exit
///     u  <- x (x is in no run)
private func knownPipeline() throws -> String {
    let root = temporaryDirectory()
    let identity = RunIdentity(runID: 0x5eed_0000_0000_0001, pid: 11, realtimeNanos: 1_767_225_600_000_000_000, monotonicNanos: 1)
    var flatMap = report(.checkpoint, id: 0x30, parents: [0x20], op: 3, keyHash: 0xf1a7, start: 200, end: 250)
    flatMap.fanout = 3
    var fold = report(.checkpoint, id: 0x50, parents: [0x30, 0x32, 0x40], op: 5, start: 400, end: 900)
    fold.flags = 1  // SPOORINT_FLAG_FOLD
    try writeRun(
        root: root, name: "20260101T000000Z-11-00000001", identity: identity,
        operators: [
            OperatorRecord(id: 1, name: "read", callSite: "p.c:1"), OperatorRecord(id: 2, name: "parse", callSite: "p.c:2"),
            OperatorRecord(id: 3, name: "split", callSite: "p.c:3"), OperatorRecord(id: 4, name: "join", callSite: "p.c:4"),
            OperatorRecord(id: 5, name: "sum", callSite: "p.c:5"),
        ],
        reports: [
            fold,
            report(.checkpoint, id: 0x40, parents: [0x31, 0x21], op: 4, keyHash: 0x101, start: 300, end: 310),
            report(.entry, id: 0x10, op: 1, keyHash: 0xa1, end: 100),
            report(.poke, id: 0x40, op: 4, end: 311, event: 11),
            report(.checkpoint, id: 0x20, parents: [0x10], op: 2, start: 150, end: 160),
            flatMap,
            report(.poke, id: 0x50, op: 5, end: 950, event: 10),
        ])
    let other = RunIdentity(runID: 0x5eed_0000_0000_0002, pid: 12, realtimeNanos: 1_767_225_600_000_000_000, monotonicNanos: 1)
    try writeRun(
        root: root, name: "20260101T000001Z-12-00000002", identity: other,
        operators: [OperatorRecord(id: 1, name: "load", callSite: "q.c:1"), OperatorRecord(id: 2, name: "parse", callSite: "q.c:2")],
        reports: [
            report(.checkpoint, id: 0x21, parents: [0x11], op: 2, start: 170, end: 180),
            report(.entry, id: 0x11, op: 1, keyHash: 0xa2, end: 120),
            report(.checkpoint, id: 0x60, parents: [0x99], op: 2, start: 1, end: 2),
        ])
    return root
}

@Suite("lineage index")
struct LineageIndexTests {
    @Test("backward and forward walks of a known pipeline: folds, joins, fan-out, events, latencies")
    func knownGraph() throws {
        let root = try knownPipeline()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let (index, built) = try LineageIndex.open(at: root + "/.spoor-lineage.index", for: LogRoot.runs(at: root))
        #expect(built?.reports == 10)
        #expect(index.nodeCount == 8 && index.eventCount == 2 && index.edgeCount == 9)

        let back = index.query(0x50, .backward)
        #expect(back.records.first?.id == 0x50)
        #expect(Set(back.records.map(\.id)) == [0x50, 0x30, 0x32, 0x40, 0x31, 0x21, 0x20, 0x11, 0x10])
        #expect(Set(back.entries) == [0x10, 0x11])
        #expect(!back.truncated)
        #expect(back.edges.count == 10, "one per parent reference walked")
        func edge(_ query: LineageQuery, _ parent: UInt64, _ child: UInt64) -> LineageEdge? {
            query.edges.first { $0.parent == parent && $0.child == child }
        }
        #expect(edge(back, 0x40, 0x50)?.latencyNanos == 590)
        #expect(edge(back, 0x21, 0x40)?.latencyNanos == 130, "an edge across runs")
        #expect(index.operatorRecord(edge(back, 0x31, 0x40)?.op)?.name == "join")
        #expect(edge(back, 0x31, 0x40)?.keyHash == 0x101)
        let fold = try #require(back.records.first)
        #expect(fold.isFold && fold.durationNanos == 500)
        #expect(fold.events.map(\.event) == [10])
        let split = try #require(back.records.first { $0.id == 0x32 })
        #expect(split.fanout == 3 && split.fanoutIndex == 2 && split.parents == [0x20] && split.keyHash == 0xf1a7)
        #expect(index.operatorRecord(split.op)?.name == "split")
        let parse = try #require(back.records.first { $0.id == 0x21 })
        #expect(index.operatorRecord(parse.op)?.callSite == "q.c:2", "operator ids are per run")
        #expect(index.runs[index.operatorRecord(parse.op)!.run].pid == 12)

        let forward = index.query(0x10, .forward)
        #expect(Set(forward.records.map(\.id)) == [0x10, 0x20, 0x30, 0x31, 0x32, 0x40, 0x50])
        #expect(forward.edges.count == 8, "10>20, 20>30,31,32, 31>40, 30>50, 32>50, 40>50")
        #expect(Set(index.query(0x11, .forward).records.map(\.id)) == [0x11, 0x21, 0x40, 0x50])
        #expect(index.query(0x40, .forward).records.first?.events.map(\.event) == [11])

        let orphan = index.query(0x60, .backward)
        #expect(orphan.records.map(\.id) == [0x60, 0x99])
        #expect(orphan.records[1].kind == nil, "a parent in no run is only an id")
        #expect(orphan.edges.first?.latencyNanos == nil)

        let limited = index.query(0x50, .backward, limit: 3)
        #expect(limited.records.count == 3 && limited.truncated)
        #expect(limited.edges.allSatisfy { edge in limited.records.contains { $0.id == edge.child } })
        #expect(index.record(0x77).kind == nil && index.record(0x77).events.isEmpty)
        #expect(index.record(0x33).kind == nil, "past the fan-out")
    }

    @Test("random multi-run DAGs logged out of id order: the index walks as the in-memory graph does")
    func matchesInMemoryGraph() throws {
        var state: UInt64 = 0x1234_5678
        func random(_ bound: Int) -> Int { Int(splitMix64(&state) % UInt64(bound)) }
        for round in 0..<4 {
            let root = temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: root) }
            var minted: [UInt64] = []
            for run in 0..<3 {
                var next = UInt64(run + 1) << 40 | UInt64(round) << 32 | 1
                var reports: [Report] = []
                for _ in 0..<(500 + random(1500)) {
                    let choice = random(10)
                    if choice == 0, !minted.isEmpty {
                        reports.append(report(.poke, id: minted[random(minted.count)], op: 9, end: UInt64(random(1000)), event: UInt32(1 + random(11))))
                        continue
                    }
                    var parents: [UInt64] = []
                    if choice > 2 && !minted.isEmpty {
                        for _ in 0..<(1 + random(4)) { parents.append(minted[random(minted.count)]) }
                    }
                    if choice == 9 { parents.append(UInt64(0xdead_0000 + random(50))) }  // never minted
                    let fanout = parents.isEmpty ? 1 : 1 + random(3)
                    var item = report(parents.isEmpty ? .entry : .checkpoint, id: next, parents: parents, op: UInt32(1 + random(4)),
                                      keyHash: UInt64(random(100)), start: UInt64(random(500)), end: UInt64(500 + random(500)))
                    item.fanout = UInt32(fanout)
                    for offset in 0..<UInt64(fanout) { minted.append(next + offset) }
                    next += UInt64(fanout) + UInt64(random(3))
                    reports.append(item)
                }
                // Out of id order, as interleaved rings leave them.
                for index in stride(from: reports.count - 1, to: 0, by: -1) { reports.swapAt(index, random(index + 1)) }
                let identity = RunIdentity(runID: UInt64(run + 1), pid: UInt32(100 + run), realtimeNanos: 1, monotonicNanos: 1)
                try writeRun(root: root, name: "2026010\(run)T000000Z-\(100 + run)-0000000\(run)", identity: identity,
                             operators: [OperatorRecord(id: 1, name: "a\(run)", callSite: "")], reports: reports)
            }
            let graph = try LineageGraph(logAt: root)
            let (index, _) = try LineageIndex.open(at: root + "/.spoor-lineage.index", for: LogRoot.runs(at: root))
            for _ in 0..<150 {
                let id = minted[random(minted.count)]
                let backward = index.query(id, .backward)
                #expect(Set(backward.records.map(\.id)) == graph.backward(from: id).union([id]), "backward of \(hex64(id))")
                let forward = index.query(id, .forward)
                #expect(Set(forward.records.map(\.id)) == graph.forward(from: id).union([id]), "forward of \(hex64(id))")
                for edge in backward.edges {
                    #expect(graph.records[edge.child]?.parents.contains(edge.parent) == true)
                }
                let record = index.record(id)
                #expect(record.parents == graph.records[id]?.parents)
                #expect(record.events.map(\.event) == graph.records[id]?.events.map(\.event))
                #expect(record.keyHash == graph.records[id]?.keyHash)
            }
        }
    }

    @Test("an index is rebuilt when the log changes; a damaged index is an error or a partial answer, never a crash")
    func stalenessAndDamage() throws {
        let root = try knownPipeline()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let path = root + "/.spoor-lineage.index"
        #expect(try LineageIndex.open(at: path, for: LogRoot.runs(at: root)).built != nil)
        #expect(try LineageIndex.open(at: path, for: LogRoot.runs(at: root)).built == nil, "current: not rebuilt")
        try writeRun(
            root: root, name: "20260101T000002Z-13-00000003",
            identity: RunIdentity(runID: 3, pid: 13, realtimeNanos: 1, monotonicNanos: 1),
            operators: [OperatorRecord(id: 1, name: "late", callSite: "")],
            reports: [report(.checkpoint, id: 0x70, parents: [0x50], op: 1, start: 1000, end: 1100)])
        let (index, built) = try LineageIndex.open(at: path, for: LogRoot.runs(at: root))
        #expect(built?.reports == 11, "a new run makes the index stale")
        #expect(Set(index.query(0x10, .forward).records.map(\.id)).contains(0x70))

        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        func attempt(_ damaged: [UInt8]) -> LineageIndex? {
            let copy = root + "/damaged.index"
            #expect(FileManager.default.createFile(atPath: copy, contents: Data(damaged)))
            return try? LineageIndex(path: copy)
        }
        #expect(attempt(Array(bytes.prefix(100))) == nil, "cut inside the header")
        #expect(attempt(Array(bytes.prefix(bytes.count - 9))) == nil, "metadata cut short")
        var header = bytes
        header[20] ^= 0x40
        #expect(attempt(header) == nil, "a header byte changed: CRC mismatch")
        // Body bytes changed at random: every open and query returns.
        var state: UInt64 = 99
        for _ in 0..<300 {
            var damaged = bytes
            for _ in 0..<8 {
                let offset = 128 + Int(splitMix64(&state) % UInt64(bytes.count - 128))
                damaged[offset] = UInt8(truncatingIfNeeded: splitMix64(&state))
            }
            guard let index = attempt(damaged) else { continue }
            for id in [0x10, 0x30, 0x32, 0x50, 0x70, 0x99] as [UInt64] {
                _ = index.query(id, .backward, limit: 100)
                _ = index.query(id, .forward, limit: 100)
            }
        }
    }

    @Test("spoor lineage prints JSON, DOT and SVG; spoor index builds the index; bad ids are refused")
    func commandLine() throws {
        let root = try knownPipeline()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let indexed = try runCLI(["index", root])
        #expect(indexed.status == 0, "\(indexed.standardError)")
        let summary = try #require(try indexed.objects().first)
        #expect(summary["reports"] as? Int == 10 && summary["records"] as? Int == 8 && summary["edges"] as? Int == 9)
        #expect(FileManager.default.fileExists(atPath: root + "/.spoor-lineage.index"))

        let json = try runCLI(["lineage", "0000000000000050", root])
        #expect(json.status == 0, "\(json.standardError)")
        #expect(!json.standardError.contains("indexed"), "the index spoor index built is current")
        let object = try #require(try json.objects().first)
        #expect(object["root"] as? String == "0000000000000050" && object["direction"] as? String == "backward")
        #expect(Set(try #require(object["entries"] as? [String])) == ["0000000000000010", "0000000000000011"])
        let records = try #require(object["records"] as? [[String: Any]])
        #expect(records.count == 9)
        let fold = records[0]
        #expect(fold["operator"] as? String == "sum" && fold["fold"] as? Bool == true && fold["duration_ns"] as? Int == 500)
        #expect(fold["run"] as? String == "20260101T000000Z-11-00000001" && fold["pid"] as? Int == 11)
        #expect((fold["events"] as? [[String: Any]])?.first?["event"] as? String == "exit")
        let edges = try #require(object["edges"] as? [[String: Any]])
        #expect(edges.count == 10)
        let join = try #require(edges.first { $0["parent"] as? String == "0000000000000021" })
        #expect(join["child"] as? String == "0000000000000040" && join["operator"] as? String == "join")
        #expect(join["latency_ns"] as? Int == 130 && join["key_hash"] as? String == "0000000000000101")

        let forward = try runCLI(["lineage", "00-0000000000000011-01", "--forward", root])
        #expect(forward.status == 0)
        #expect((try forward.objects().first?["records"] as? [[String: Any]])?.count == 4)

        let dot = try runCLI(["lineage", "0x50", root, "--format", "dot"])
        #expect(dot.status == 0)
        #expect(dot.standardOutput.hasPrefix("digraph lineage {"))
        #expect(dot.standardOutput.contains("\"0000000000000021\" -> \"0000000000000040\" [label=\"join\\n130 ns\"];"))

        let svg = try runCLI(["lineage", "50", root, "--format", "svg"])
        #expect(svg.status == 0, "\(svg.standardError) (Graphviz: scripts/install-deps installs it)")
        #expect(svg.standardOutput.contains("<svg") && svg.standardOutput.contains("join"))

        // The log grows: the next query rebuilds the index and says so.
        try writeRun(
            root: root, name: "20260101T000002Z-13-00000003",
            identity: RunIdentity(runID: 3, pid: 13, realtimeNanos: 1, monotonicNanos: 1),
            operators: [OperatorRecord(id: 1, name: "late", callSite: "")],
            reports: [report(.checkpoint, id: 0x70, parents: [0x50], op: 1, start: 1000, end: 1100)])
        let grown = try runCLI(["lineage", "70", root, "--run", "00000001", "--run", "00000003"])
        #expect(grown.status == 0, "\(grown.standardError)")
        #expect(grown.standardError.contains("indexed 8 reports"), "\(grown.standardError)")
        #expect((try grown.objects().first?["records"] as? [[String: Any]])?.count == 9, "run 2 not selected: 11, 21 are ids only, 40's parents stop there")

        let unknown = try runCLI(["lineage", "77", root])
        #expect(unknown.status == 1 && unknown.standardError.contains("no record 0000000000000077"))
        let bad = try runCLI(["lineage", "xyz", root])
        #expect(bad.status == 64 && bad.standardError.contains("is not a record id"))
    }
}
