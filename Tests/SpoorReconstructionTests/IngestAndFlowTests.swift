import Testing
@testable import SpoorReconstruction
import SpoorLog

#if canImport(Glibc)
import Glibc
#endif

/// A client that sends `bytes` to 127.0.0.1:`port`, `chunk` bytes per write, then closes.
final class ClientJob: @unchecked Sendable {
    let port: UInt16, bytes: [UInt8], chunk: Int
    init(port: UInt16, bytes: [UInt8], chunk: Int) { (self.port, self.bytes, self.chunk) = (port, bytes, chunk) }

    func send() {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        precondition(connected == 0, "connect failed")
        var offset = 0
        while offset < bytes.count {
            let count = min(chunk, bytes.count - offset)
            let sent = bytes[offset..<offset + count].withUnsafeBytes { write(descriptor, $0.baseAddress, count) }
            precondition(sent > 0)
            offset += sent
        }
        close(descriptor)
    }
}

@Suite struct XTraceTests {
    let text = """
        X-Trace Report ver 1.0
        X-Trace: 194C79295549A3866EE7EB8787515DA35E
        Host: ww2-laptop
        Agent: Client
        Label: MKDIRS
        Timestamp: 181854865780000

        X-Trace Report ver 1.0
        X-Trace: 194C79295549A3866ECCC315DD47301EA7
        Host: ww2-laptop
        Agent: Namenode
        Label: WW2-LAPTOP_NAMENODE_MKDIRS_START
        Edge: E7EB8787515DA35E
        Timestamp: 181854865781004

        X-Trace Report ver 1.0
        X-Trace: 19ZZ
        Label: broken
        X-Trace Report ver 1.0
        X-Trace: 194C79295549A3866E0000000000000042
        Label: BAD_EDGE
        Edge: nothex
        X-Trace Report ver 1.0
        Label: no metadata
        X-Trace Report ver 1.0
        X-Trace: 194C79295549A3866E0000000000000043
        Label: LAST
        Edge: CCC315DD47301EA7
        Edge: E7EB8787515DA35E
        """

    @Test func parsesReportsAndReportsMalformedOnesByLine() {
        var parser = XTraceParser(source: "sample.xtrace")
        var labels = LabelTable()
        var items: [TraceItem] = []
        var errors: [IngestError] = []
        for line in TextFile.split(text) {
            parser.feed(line: line, labels: &labels, issue: { errors.append($0) }, item: { item, _ in items.append(item) })
        }
        parser.finish(labels: &labels, issue: { errors.append($0) }, item: { item, _ in items.append(item) })
        #expect(parser.reports == 3 && parser.malformed == 3)
        #expect(errors.map(\.line) == [16, 19, 23])
        #expect(errors.allSatisfy { $0.source == "sample.xtrace" })
        #expect(errors[0].message.contains("X-Trace metadata"))
        #expect(errors[1].message.contains("Edge"))
        #expect(errors[2].message.contains("no X-Trace line"))
        let nodes = items.compactMap { if case .node(let n) = $0 { n } else { nil } }
        #expect(nodes.count == 3 && Set(nodes.map(\.trace)) == [0x4C79_2955_49A3_866E])
        #expect(nodes[1].key == 0xCCC3_15DD_4730_1EA7 && nodes[1].end == 181_854_865_781_004)
        let (graphs, _) = assembleAll(items)
        #expect(graphs.count == 1)
        let graph = graphs[0]
        #expect(graph.nodes.count == 3 && !graph.isFractured)
        let last = graph.nodes.firstIndex { labels.name($0.label) == "LAST" }!
        #expect(graph.parentCount[last] == 2)
        #expect(graph.roots.count == 1 && labels.name(graph.nodes[Int(graph.roots[0])].label) == "MKDIRS")
    }

    @Test func overTCPTwoConcurrentConnectionsInOddChunksGiveWhatTheFileGives() throws {
        // The file's items, for comparison.
        var fileLabels = LabelTable()
        var fileItems: [TraceItem] = []
        var parser = XTraceParser(source: "sample.xtrace")
        for line in TextFile.split(text) {
            parser.feed(line: line, labels: &fileLabels, issue: { _ in }, item: { item, _ in fileItems.append(item) })
        }
        parser.finish(labels: &fileLabels, issue: { _ in }, item: { item, _ in fileItems.append(item) })

        // The listener on this thread; two clients on their own threads, started once it is bound.
        let bytes = Array(text.utf8)
        final class Clients: @unchecked Sendable {
            var threads: [pthread_t] = []
        }
        let clients = Clients()
        var labels = LabelTable()
        var items: [TraceItem] = []
        var errors: [IngestError] = []
        let control = LiveControl(listening: { address in
            let port = UInt16(address.split(separator: ":").last.flatMap { UInt16($0) } ?? 0)
            for chunk in [1, 7] {
                let job = Unmanaged.passRetained(ClientJob(port: port, bytes: bytes, chunk: chunk))
                var thread = pthread_t()
                pthread_create(&thread, nil, { raw in
                    let job = Unmanaged<ClientJob>.fromOpaque(raw!).takeRetainedValue()
                    job.send()
                    return nil
                }, job.toOpaque())
                clients.threads.append(thread)
            }
        })
        try TraceInput.xTraceListen(XTraceEndpoint(port: 0, connections: 2)).read(
            labels: &labels, issue: { errors.append($0) }, control: control, item: { item, _ in items.append(item) })
        for thread in clients.threads { pthread_join(thread, nil) }

        #expect(errors.count == 6, "the three malformed reports of each connection")
        #expect(Set(errors.map(\.line)) == [16, 19, 23])
        #expect(Set(errors.map(\.source)).count == 2 && errors.allSatisfy { $0.source.hasPrefix("tcp:127.0.0.1:") })
        // Each connection delivers the file's items (interleaved with the other's).
        let nodes = items.compactMap { if case .node(let n) = $0 { n.key } else { nil } }
        let fileNodes = fileItems.compactMap { if case .node(let n) = $0 { n.key } else { nil } }
        #expect(nodes.sorted() == (fileNodes + fileNodes).sorted())
        #expect(items.count == 2 * fileItems.count)
    }

    @Test func metadataLengths() {
        // Flags 0x10: 4-byte task id, 4-byte op id.
        #expect(XTraceParser.metadata("1001020304AABBCCDD")! == (0x0102_0304_0000_0000, 0xAABB_CCDD))
        #expect(XTraceParser.metadata("19") == nil)
        #expect(XTraceParser.metadata("1901020304") == nil)
    }
}

@Suite struct TraceBenchTests {
    @Test func malformedRowsAreReportedWithFileAndLineAndTheRestGoesOn() throws {
        let events = TextFile.split("""
            TaskID,TID,OpName,StartTime,EndTime,HostAddress,HostName,Agent,Description
            00000000000000AA,0000000000000001,fs -mkdir,100,900,10.0.0.1,client,User,A user task
            00000000000000AA,0000000000000002,mkdirs,200,300,10.0.0.2,namenode,Namenode,Success: return(OW[class=boolean,value=true])
            00000000000000AA,XYZ,mkdirs,200,300,10.0.0.2,namenode,Namenode,Success: x
            00000000000000AA,0000000000000003,mkdirs,notanumber,300,10.0.0.2,namenode,Namenode,Success: x
            short,row
            00000000000000BB,0000000000000009,mkdirs,1,2,10.0.0.2,namenode,Namenode,IOException: broken, really
            """)
        let edges = TextFile.split("""
            TaskID,FatherTID,FatherStartTime,ChildTID
            00000000000000AA,0000000000000000,0,0000000000000001
            00000000000000AA,0000000000000001,100,0000000000000002
            00000000000000AA,0000000000000001,100
            00000000000000BB,0000000000000000,0,0000000000000009
            """)
        var reader = TraceBenchReader()
        var labels = LabelTable()
        var items: [TraceItem] = []
        var errors: [IngestError] = []
        try reader.read(events: events, eventSource: "event.csv", edges: edges, edgeSource: "edge.csv", labels: &labels,
                        issue: { errors.append($0) }, item: { item, _ in items.append(item) })
        #expect(Set(errors.map { "\($0.source):\($0.line)" }) == ["event.csv:4", "event.csv:5", "event.csv:6", "edge.csv:4"])
        #expect(reader.malformed == 4)
        #expect(reader.failed == [0xBB])
        #expect(reader.traces == [0xAA, 0xBB])
        let (graphs, _) = assembleAll(items)
        let aa = graphs.first { $0.trace == 0xAA }!
        #expect(aa.nodes.count == 2 && aa.children.count == 1 && !aa.isFractured)
    }

    @Test func everyFolderAssemblesWithoutFracturesAndLabelsAsTheReadmeSays() throws {
        for (folder, traces, failed) in [("NM_CL_rpc_01C_0to0INT_10RT_1WT", 696, 0), ("AN_Proc_killDN_w_50FDN_30C_1to19B_0to600INT_15RT_5WT", 91, 91)] {
            var labels = LabelTable()
            var items: [TraceItem] = []
            var errors: [IngestError] = []
            let truth = try TraceInput.traceBench("\(traceBenchRoot)/\(folder)").read(
                labels: &labels, issue: { errors.append($0) }, item: { item, _ in items.append(item) })
            #expect(errors.isEmpty)
            #expect(truth.count == traces && truth.values.filter { $0 }.count == failed)
            let (graphs, partition) = assembleAll(items)
            #expect(graphs.count == traces && partition.statistics.fractured == 0)
        }
    }
}

/// Learns from the NM folders except a held-back third, then classifies the held-back normal
/// traces and every failed (AN) trace, as `spoor flows evaluate` does.
@Suite struct FlowDetectionTests {
    static let normal = ["NM_CL_rpc_01C_0to0INT_10RT_1WT", "NM_CL_w_05C_1to19B_0to600INT_50RT_10WT",
                         "NM_CL_rw_05C_1to19B_0to120INTR_0to600INTW_50RT_10WT"]
    static let failed = ["AN_Net_disconnectDN_w_50FDN_30C_1to19B_0to600INT_15RT_5WT",
                         "AN_Proc_killDN_w_50FDN_30C_1to19B_0to600INT_15RT_5WT",
                         "AN_Proc_suspendDN_r_50FDN_30C_1to19B_0to120INT_15RT_10WT"]

    static func graphs(_ folders: [String], keep: (UInt64) -> Bool) throws -> (graphs: [TraceGraph], labels: LabelTable, truth: [UInt64: Bool]) {
        var labels = LabelTable()
        var items: [TraceItem] = []
        var truth: [UInt64: Bool] = [:]
        for folder in folders {
            let found = try TraceInput.traceBench("\(traceBenchRoot)/\(folder)").read(
                labels: &labels, issue: { Issue.record("\($0)") }, item: { item, _ in if keep(item.trace) { items.append(item) } })
            for (trace, bad) in found where keep(trace) { truth[trace] = bad }
        }
        return (assembleAll(items).graphs, labels, truth)
    }

    static func heldBack(_ trace: UInt64) -> Bool { SignatureHash.mix(trace ^ 0x686f_6c64) % 3 == 0 }

    @Test func timeOrderedReplayCompletesEachTraceAtItsEndWithTheSameDAG() throws {
        var labels = LabelTable()
        var items: [TraceItem] = []
        try TraceInput.traceBench("\(traceBenchRoot)/AN_Proc_killDN_w_50FDN_30C_1to19B_0to600INT_15RT_5WT").read(
            labels: &labels, issue: { _ in }, item: { item, _ in items.append(item) })
        let ordered = TraceItem.timeOrdered(items)
        #expect(ordered.count == items.count + 91, "one end marker per trace")
        #expect(TraceItem.timeOrdered(ordered).count == ordered.count, "items with end markers are left as they are")
        // Every trace's end comes after all its items, and the traces are interleaved.
        var ended = Set<UInt64>()
        var switches = 0
        for (previous, item) in zip([nil] + ordered.map(Optional.some), ordered) {
            #expect(!ended.contains(item.trace), "an item after its trace's end")
            if case .end = item { ended.insert(item.trace) }
            if let previous, previous.trace != item.trace { switches += 1 }
        }
        #expect(ended.count == 91 && switches > 2 * 91, "interleaved, not one trace after another")
        // Assembled at their ends (complete, none left to flush), to the same DAGs as the file order.
        var partition = TracePartition(configuration: ReconstructionConfiguration())
        var graphs: [TraceGraph] = []
        for (n, item) in ordered.enumerated() { partition.accept(item, now: UInt64(n)) { graphs.append($0) } }
        #expect(partition.statistics.complete == 91 && partition.statistics.open == 0)
        let reference = Dictionary(uniqueKeysWithValues: assembleAll(items).graphs.map { ($0.trace, TraceSignature($0, labels: labels).exact) })
        for graph in graphs {
            #expect(TraceSignature(graph, labels: labels).exact == reference[graph.trace], "trace \(graph.trace)")
            #expect(!graph.isFractured)
        }
    }

    @Test func structureSeparatesFailuresWithPrecisionAndRecallAtLeast099() throws {
        let (learnGraphs, learnLabels, _) = try Self.graphs(Self.normal) { !Self.heldBack($0) }
        var model = FlowModel()
        for graph in learnGraphs { model.learn(graph, signature: TraceSignature(graph, labels: learnLabels), labels: learnLabels) }
        model.finish()
        // Through the model file, as a user would.
        model = try FlowModelFile.decode(try FlowModelFile.encode(model), source: "memory")
        let held = try Self.graphs(Self.normal, keep: Self.heldBack)
        let failures = try Self.graphs(Self.failed) { _ in true }
        var tp = 0, fp = 0, fn = 0, timingFlags = 0
        for (set, labels) in [(held.graphs, held.labels), (failures.graphs, failures.labels)] {
            for graph in set {
                let verdict = model.classify(graph, signature: TraceSignature(graph, labels: labels), labels: labels)
                let bad = (held.truth[graph.trace] ?? failures.truth[graph.trace])!
                if verdict.kind == .timing { timingFlags += 1 }
                switch (verdict.kind == .structural, bad) {
                case (true, true): tp += 1
                case (true, false): fp += 1
                case (false, true): fn += 1
                default: break
                }
                if verdict.kind == .structural {
                    // Every structural anomaly is explained against a nearest flow.
                    #expect(verdict.flow != nil && !(verdict.addedEdges.isEmpty && verdict.missingEdges.isEmpty && verdict.addedLabels.isEmpty && verdict.missingLabels.isEmpty) || verdict.similarity == 1)
                }
            }
        }
        let precision = Double(tp) / Double(tp + fp), recall = Double(tp) / Double(tp + fn)
        #expect(failures.graphs.count == 241 && held.graphs.count > 200)
        #expect(precision >= 0.99 && recall >= 0.99, "precision \(precision), recall \(recall)")
        // The failed writes add abandonBlock; the explanation names it.
        let kill = failures.graphs.first { g in g.nodes.contains { failures.labels.name($0.label) == "abandonBlock" } }!
        let verdict = model.classify(kill, signature: TraceSignature(kill, labels: failures.labels), labels: failures.labels)
        #expect(model.explain(verdict, labels: failures.labels).contains("abandonBlock"))
    }

    @Test func aNewNormalWorkloadOfKnownFlowsIsNotFlaggedForItsRepeats() throws {
        // Learn writes from the read-write workload and RPCs; test the write-only workload, whose
        // files have other block counts: exact signatures are new, collapsed ones are learnt.
        let (learnGraphs, learnLabels, _) = try Self.graphs([Self.normal[0], Self.normal[2]]) { _ in true }
        var model = FlowModel()
        for graph in learnGraphs { model.learn(graph, signature: TraceSignature(graph, labels: learnLabels), labels: learnLabels) }
        model.finish()
        let test = try Self.graphs([Self.normal[1]]) { _ in true }
        var structural = 0, newExact = 0
        for graph in test.graphs {
            let verdict = model.classify(graph, signature: TraceSignature(graph, labels: test.labels), labels: test.labels)
            if verdict.kind == .structural { structural += 1 }
            if verdict.newExactSignature { newExact += 1 }
        }
        #expect(test.graphs.count == 49)
        #expect(structural == 0)
        #expect(newExact > 0)
    }

    @Test func timingAnomalyNamesTheSlowEdge() {
        var labels = LabelTable()
        var model = FlowModel(floorNanos: 0)
        func trace(_ id: UInt64, slow: UInt64) -> TraceGraph {
            let items: [TraceItem] = [
                .node(TraceNode(trace: id, key: 1, group: 1, label: labels.intern("request"), start: 1, end: 1_000_000 + slow)),
                .node(TraceNode(trace: id, key: 2, group: 2, label: labels.intern("lookup"), start: 10, end: 1_000 + slow)),
                .edge(trace: id, from: 0, to: 1), .edge(trace: id, from: 1, to: 2),
            ]
            return assembleAll(items).graphs[0]
        }
        for id in 1...50 as ClosedRange<UInt64> {
            let g = trace(id, slow: id * 10)
            model.learn(g, signature: TraceSignature(g, labels: labels), labels: labels)
        }
        model.finish()
        let normal = trace(99, slow: 100)
        #expect(model.classify(normal, signature: TraceSignature(normal, labels: labels), labels: labels).kind == .normal)
        let slow = trace(100, slow: 50_000_000)
        let verdict = model.classify(slow, signature: TraceSignature(slow, labels: labels), labels: labels)
        #expect(verdict.kind == .timing)
        #expect(verdict.slowSteps.first.map { labels.name(labels.lookup("lookup")!) == model.name(of: $0.label) } == true)
        #expect(model.explain(verdict).contains("request -> lookup"))
    }

    @Test func bloomFilterFalsePositiveRateMatchesItsFormula() {
        var filter = BloomFilter(capacity: 10_000, falsePositiveRate: 0.01)
        var state: UInt64 = 1
        for _ in 0..<10_000 { state = SignatureHash.mix(state); filter.insert(state) }
        var positives = 0
        let trials = 200_000
        for _ in 0..<trials { state = SignatureHash.mix(state ^ 0xdead); if filter.mayContain(state) { positives += 1 } }
        let measured = Double(positives) / Double(trials)
        // Blocked filters run a little above the classic formula; never far.
        #expect(filter.expectedFalsePositiveRate > 0.005 && filter.expectedFalsePositiveRate < 0.015)
        #expect(measured < 3 * filter.expectedFalsePositiveRate && measured > 0.3 * filter.expectedFalsePositiveRate, "measured \(measured)")
    }
}

@Suite struct SpoorReportTracerTests {
    func report(_ kind: ReportKind, id: UInt64, parents: [UInt64] = [], op: UInt32, event: UInt32? = nil, fold: Bool = false) -> Report {
        Report(kind: kind, id: id, fanout: 1, parents: parents, op: op, keyHash: 0, startNanos: 0, endNanos: id,
               thread: 1, partition: nil, event: event, flags: fold ? 1 : 0, attachment: [], ring: 0, position: 0)
    }

    @Test func joinsAndFoldsBelongToEveryEntrysTraceAndExitsEndTraces() {
        var tracer = SpoorReportTracer()
        var labels = LabelTable()
        tracer.define([OperatorRecord(id: 1, name: "source", callSite: ""), OperatorRecord(id: 2, name: "map", callSite: ""),
                       OperatorRecord(id: 3, name: "sum", callSite: "")], run: 1, labels: &labels)
        var items: [TraceItem] = []
        let reports = [
            report(.entry, id: 10, op: 1), report(.entry, id: 20, op: 1),
            // Out of order: the fold arrives before one of the maps it folds.
            report(.checkpoint, id: 30, parents: [11, 21], op: 3, fold: true),
            report(.checkpoint, id: 11, parents: [10], op: 2),
            report(.checkpoint, id: 21, parents: [20], op: 2),
            report(.poke, id: 30, op: 3, event: 10),   // exit
        ]
        for r in reports { tracer.add(r, run: 1, labels: &labels) { item, _ in items.append(item) } }
        tracer.finish(labels: &labels) { item, _ in items.append(item) }
        let ends = items.compactMap { if case .end(let t) = $0 { t } else { nil } }
        #expect(Set(ends) == [10, 20])
        #expect(tracer.orphans == 0)
        let graphs = assembleAll(items).graphs
        #expect(graphs.count == 2)
        for graph in graphs {
            #expect(graph.closure == .complete && !graph.isFractured)
            // entry -> map -> sum -> event:exit; the fold's other parent belongs to the other
            // trace only, so it is no edge of this one.
            #expect(Set(graph.nodes.map { labels.name($0.label) }) == ["source", "map", "sum", "event:exit"])
        }
    }

    @Test func aReportWhoseParentNeverArrivesIsEmittedAsAFracturedTrace() {
        var tracer = SpoorReportTracer()
        var labels = LabelTable()
        var items: [TraceItem] = []
        tracer.add(report(.checkpoint, id: 5, parents: [4], op: 2), run: 1, labels: &labels) { item, _ in items.append(item) }
        tracer.finish(labels: &labels) { item, _ in items.append(item) }
        #expect(tracer.orphans == 1)
        let (graphs, partition) = assembleAll(items)
        #expect(graphs.count == 1 && graphs[0].isFractured && partition.statistics.fractured == 1)
    }
}
