import Spoor
import SpoorDataflow
import SpoorLineage
import Synchronization
import Testing

/// A small traced word count: sentences -> words -> (word, 1) -> reduceByKey with a combiner.
func wordCountFlow(_ text: [String], tracing: Bool, windowing: Windowing = .none, combiner: Bool = true,
                   partitioner: PartitionerHandle? = nil) -> (Dataflow, CollectedRecords<KeyValue<String, Int>>) {
    var configuration = DataflowConfiguration()
    configuration.parallelism = 2
    configuration.batchSize = 64
    configuration.queueCapacity = 4
    configuration.tracing = tracing
    let flow = Dataflow(configuration)
    let counts = flow.source("sentences", text, parallelism: 2, windowing: windowing) { $0.traceKeyHash }
        .flatMap("split") { $0.split(separator: " ").map(String.init) }
        .keyBy("pair") { KeyValue($0, 1) }
        .reduceByKey("count", combiner: combiner, partitioner: partitioner) { $0 + $1 }
        .collect("out")
    return (flow, counts)
}

func totals(_ records: [(window: UInt64, record: Traced<KeyValue<String, Int>>)]) -> [String: Int] {
    var result: [String: Int] = [:]
    for (_, record) in records { result[record.value.key, default: 0] += record.value.value }
    return result
}

extension SwiftAPITests {
    @Test("word count results are identical untraced, direct and piggyback, with and without combiner")
    func wordCountModes() throws {
        let text = sentences(3_000)
        let expected = wordCounts(text)
        for combiner in [true, false] {
            let (flow, untraced) = wordCountFlow(text, tracing: false, combiner: combiner)
            try flow.run()
            #expect(totals(untraced.records) == expected)
            #expect(untraced.records.count == expected.count, "one result per key")
            for mode in [TracingMode.direct, .piggyback] {
                let (records, graph, statistics) = try traced(sampling: .probability(0.3), mode: mode) {
                    let (flow, counts) = wordCountFlow(text, tracing: true, combiner: combiner)
                    try flow.run()
                    return counts.records
                }
                #expect(totals(records) == expected)
                #expect(statistics.dropped == 0)
                // Every traced aggregate was reported once, as a fold of its traced contributors.
                let tracedOutputs = records.filter { $0.record.isTracked }
                #expect(!tracedOutputs.isEmpty)
                for (_, output) in tracedOutputs where mode == .direct {
                    let node = try #require(graph.records[output.id.rawValue])
                    #expect(node.isFold && !node.parents.isEmpty)
                    #expect(node.keyHash == output.value.key.traceKeyHash)
                    // The keyed records it folds carry the same key hash (heavy-key analysis reads them).
                    #expect(node.parents.allSatisfy { graph.records[$0]?.keyHash == output.value.key.traceKeyHash })
                }
            }
        }
    }

    @Test("count windows, time windows and streaming stop give per-window results")
    func windows() throws {
        let text = sentences(1_000)
        let (flow, counts) = wordCountFlow(text, tracing: false, windowing: .count(100))
        try flow.run()
        let byWindow = Dictionary(grouping: counts.records, by: \.window)
        // Two source instances each cut 500 sentences into windows of 100: windows 0...4.
        #expect(Set(byWindow.keys) == Set(0...4))
        for window in 0...4 {
            let mine = (0..<1_000).filter { ($0 % 2 == 0 && ($0 / 2) / 100 == window) || ($0 % 2 == 1 && ($0 / 2) / 100 == window) }
            #expect(totals(byWindow[UInt64(window)] ?? []) == wordCounts(mine.map { text[$0] }))
        }
        // The same windows, traced (direct and piggyback), give the same per-window results.
        func perWindow(_ records: [(window: UInt64, record: Traced<KeyValue<String, Int>>)]) -> [UInt64: [String: Int]] {
            Dictionary(grouping: records, by: \.window).mapValues { totals($0) }
        }
        for mode in [TracingMode.direct, .piggyback] {
            let (records, _, _) = try traced(sampling: .probability(0.2), mode: mode) {
                let (flow, counts) = wordCountFlow(text, tracing: true, windowing: .count(100))
                try flow.run()
                return counts.records
            }
            #expect(perWindow(records) == perWindow(counts.records))
        }

        // Streaming: an endless source stopped from outside, with time windows.
        var configuration = DataflowConfiguration()
        configuration.parallelism = 2
        let streaming = Dataflow(configuration)
        let emitted = Atomic<Int>(0)
        let closed = Locked<[UInt64]>([])
        streaming.source("endless", windowing: .time(milliseconds: 5)) { (context: SourceContext<String>) in
            var index = 0
            while !context.isStopped {
                context.emit(text[index % text.count])
                emitted.add(1, ordering: .relaxed)
                index += 1
                if index == 20_000 { streaming.stop() }
            }
        }
        .flatMap("split") { $0.split(separator: " ").map(String.init) }
        .keyBy("pair") { KeyValue($0, 1) }
        .reduceByKey("count") { $0 + $1 }
        .sink("out", onWindow: { window in closed.withLock { $0.append(window) } }) { _, _ in }
        try streaming.run()
        #expect(emitted.load(ordering: .relaxed) == 20_000)
        let windows = closed.withLock { $0 }
        #expect(!windows.isEmpty && windows == windows.sorted(), "windows close in order")
    }

    @Test("join, cogroup and groupByKey match a reference, traced and untraced")
    func keyedOperators() throws {
        let orders = (0..<600).map { KeyValue($0 % 37, $0) }  // (user, amount)
        let users = (0..<40).map { KeyValue($0, "country-\($0 % 5)") }
        func plan(tracing: Bool) -> (Dataflow, CollectedRecords<Joined<Int, Int, String>>, CollectedRecords<CoGrouped<Int, Int, String>>, CollectedRecords<KeyValue<Int, [Int]>>) {
            var configuration = DataflowConfiguration()
            configuration.tracing = tracing
            let flow = Dataflow(configuration)
            let totals = flow.source("orders", orders, parallelism: 2).keyBy("byUser") { $0 }.reduceByKey("sum") { $0 + $1 }
            let joined = KeyedStream(stream: totals).join(flow.source("users", users).keyBy("byId") { $0 }, "join").collect("joined")
            let cogrouped = flow.source("orders2", orders).keyBy("byUser2") { $0 }
                .cogroup(flow.source("users2", users).keyBy("byId2") { $0 }, "cogroup").collect("cogrouped")
            let grouped = flow.source("orders3", orders).keyBy("byUser3") { $0 }.groupByKey("group").collect("grouped")
            return (flow, joined, cogrouped, grouped)
        }
        var expectedTotals: [Int: Int] = [:]
        for order in orders { expectedTotals[order.key, default: 0] += order.value }
        for tracing in [false, true] {
            let check = { (joined: [Joined<Int, Int, String>], cogrouped: [CoGrouped<Int, Int, String>], grouped: [KeyValue<Int, [Int]>]) in
                #expect(joined.count == 37)
                #expect(joined.allSatisfy { expectedTotals[$0.key] == $0.left && $0.right == "country-\($0.key % 5)" })
                #expect(cogrouped.count == 40)
                #expect(cogrouped.allSatisfy { group in group.left.sorted() == orders.filter { $0.key == group.key }.map(\.value) && group.right.count == 1 })
                #expect(grouped.count == 37 && grouped.allSatisfy { group in group.value.count == orders.filter { $0.key == group.key }.count })
            }
            if tracing {
                _ = try traced(sampling: .everyNth(3)) {
                    let (flow, joined, cogrouped, grouped) = plan(tracing: true)
                    try flow.run()
                    check(joined.values, cogrouped.values, grouped.values)
                }
            } else {
                let (flow, joined, cogrouped, grouped) = plan(tracing: false)
                try flow.run()
                check(joined.values, cogrouped.values, grouped.values)
            }
        }
    }

    @Test("replacing the partitioner while streaming keeps every window's counts correct")
    func partitionerReplacement() throws {
        let text = sentences(4_000)
        let handle = PartitionerHandle()
        var configuration = DataflowConfiguration()
        configuration.parallelism = 2
        configuration.batchSize = 32
        let flow = Dataflow(configuration)
        let replaced = Atomic<Bool>(false)
        let perWindow = Locked<[UInt64: [String: Int]]>([:])
        flow.source("sentences", text, windowing: .count(500))
            .flatMap("split") { $0.split(separator: " ").map(String.init) }
            .keyBy("pair") { KeyValue($0, 1) }
            .reduceByKey("count", partitioner: handle) { $0 + $1 }
            .sink("out", onWindow: { window in
                if window == 2, !replaced.exchange(true, ordering: .relaxed) {
                    // Move "alpha" and "beta" to partition 1, everything else to partition 0.
                    handle.replace(with: AssignedKeyPartitioner(assignments: ["alpha".traceKeyHash: 1, "beta".traceKeyHash: 1]))
                }
            }) { record, window in
                perWindow.withLock { $0[window, default: [:]][record.value.key, default: 0] += record.value.value }
            }
        try flow.run()
        let results = perWindow.withLock { $0 }
        #expect(results.count == 8)
        for window in 0..<8 {
            let slice = Array(text[(window * 500)..<((window + 1) * 500)])
            #expect(results[UInt64(window)] == wordCounts(slice), "window \(window)")
        }
        let didReplace = replaced.load(ordering: .relaxed)
        #expect(didReplace)
    }

    @Test("an assigned-key partitioner isolates heavy keys and hashes the rest onto the other partitions")
    func assignedKeys() {
        let heavy = ["us".traceKeyHash: 2]
        let partitioner = AssignedKeyPartitioner(assignments: heavy)
        #expect(partitioner.partition(keyHash: "us".traceKeyHash, partitions: 3) == 2)
        for key in 0..<1_000 where key.traceKeyHash != "us".traceKeyHash {
            #expect([0, 1].contains(partitioner.partition(keyHash: key.traceKeyHash, partitions: 3)))
        }
        #expect((0..<1_000).allSatisfy { (0..<4).contains(HashPartitioner().partition(keyHash: $0.traceKeyHash, partitions: 4)) })
    }

    @Test("forward lineage is complete and backward lineage partial under sampling (Table I)")
    func tableOne() throws {
        // orders (user, amount) -> map -> shuffle -> reduceByKey(sum) -> join users -> out
        let orders = (0..<300).map { KeyValue($0 % 11, $0) }
        let users = (0..<11).map { KeyValue($0, "u\($0)") }
        func run(_ sampling: Sampling) throws -> (graph: LineageGraph, outputs: [Traced<Joined<Int, Int, String>>]) {
            let (outputs, graph, _) = try traced(sampling: sampling) {
                var configuration = DataflowConfiguration()
                configuration.tracing = true
                let flow = Dataflow(configuration)
                let sums = flow.source("orders", orders, parallelism: 2) { UInt64($0.value) &+ 1 }
                    .map("scale") { KeyValue($0.key, $0.value * 2) }
                    .keyBy("byUser") { $0 }
                    .reduceByKey("sum") { $0 + $1 }
                let collected = KeyedStream(stream: sums)
                    .join(flow.source("users", users) { UInt64(1_000 + $0.key) }.keyBy("byId") { $0 }, "join")
                    .collect("out")
                try flow.run()
                return collected.records.map(\.record)
            }
            return (graph, outputs)
        }
        /// The entry key hashes an output truly depends on: its user's orders and the user.
        func contributors(_ user: Int) -> Set<UInt64> {
            Set(orders.filter { $0.key == user }.map { UInt64($0.value) &+ 1 } + [UInt64(1_000 + user)])
        }
        func entryKeys(_ graph: LineageGraph, _ ids: Set<UInt64>) -> Set<UInt64> {
            Set(ids.compactMap { graph.records[$0] }.filter { $0.kind == .entry }.map(\.keyHash))
        }

        // Everything sampled: backward lineage is complete.
        let full = try run(.all)
        #expect(full.outputs.count == 11)
        for output in full.outputs {
            #expect(entryKeys(full.graph, full.graph.entries(of: output.id.rawValue)) == contributors(output.value.key))
        }
        // Every third entry sampled: backward lineage is partial, forward lineage complete.
        let sampled = try run(.everyNth(3))
        var partial = 0
        for output in sampled.outputs where output.isTracked {
            let seen = entryKeys(sampled.graph, sampled.graph.entries(of: output.id.rawValue))
            #expect(seen.isSubset(of: contributors(output.value.key)))
            if seen != contributors(output.value.key) { partial += 1 }
        }
        #expect(partial > 0, "some contributors were not sampled, so backward lineage misses them")
        let entries = sampled.graph.records.values.filter { $0.kind == .entry }
        #expect(!entries.isEmpty)
        let outputsByID = Dictionary(uniqueKeysWithValues: sampled.outputs.filter(\.isTracked).map { ($0.id.rawValue, $0.value.key) })
        for entry in entries {
            let reachedOutputs = sampled.graph.forward(from: entry.id).filter { outputsByID[$0] != nil }
            let user = entry.keyHash >= 1_000 ? Int(entry.keyHash - 1_000) : orders[Int(entry.keyHash - 1)].key
            #expect(reachedOutputs.map { outputsByID[$0] } == [user], "a sampled record reaches exactly the output it contributes to")
        }
    }

    @Test(
        "piggybacked lineage equals the lineage reconstructed from direct reports",
        arguments: [1, 2], ["reduceByKey", "reduceByKey without combiner", "groupByKey"])
    func piggybackEqualsDirect(parallelism: Int, aggregation: String) throws {
        let text = sentences(400)
        func shapes(_ mode: TracingMode) throws -> [String] {
            let (records, graph, _) = try traced(sampling: .all, mode: mode) { () throws -> [UInt64] in
                var configuration = DataflowConfiguration()
                configuration.tracing = true
                configuration.parallelism = parallelism
                let flow = Dataflow(configuration)
                let keyed = flow.source("sentences", text) { $0.traceKeyHash }
                    .flatMap("split") { $0.split(separator: " ").map(String.init) }
                    .filter("long") { $0.count > 3 }
                    .keyBy("pair") { KeyValue($0, 1) }
                switch aggregation {
                case "groupByKey":
                    let collected = keyed.groupByKey("group").collect("out")
                    try flow.run()
                    return collected.records.map(\.record.id.rawValue)
                default:
                    let collected = keyed.reduceByKey("count", combiner: aggregation == "reduceByKey") { $0 + $1 }.collect("out")
                    try flow.run()
                    return collected.records.map(\.record.id.rawValue)
                }
            }
            // The exit event marks each output record as reported in the log.
            let exits = graph.records.values.filter { $0.events.contains { $0.event == RecordEvent.exit.code } }
            #expect(exits.count == records.count)
            return exits.map { graph.canonicalBackward(of: $0.id) }.sorted()
        }
        let direct = try shapes(.direct)
        let piggyback = try shapes(.piggyback)
        #expect(!direct.isEmpty)
        #expect(direct == piggyback)
    }
}

struct ParseError: Error {}

extension SwiftAPITests {
    @Test("a UDF that throws drops its record, counts it, and reports an error event leading back to the input")
    func udfErrors() throws {
        let inputs = (0..<200).map { $0 % 50 == 7 ? "bad-\($0)" : "\($0)" }
        let ((sum, errors), graph, _) = try traced(sampling: .all) {
            var configuration = DataflowConfiguration()
            configuration.tracing = true
            let flow = Dataflow(configuration)
            let collected = flow.source("lines", inputs) { $0.traceKeyHash }
                .map("parse") { (text: String) throws -> Int in
                    guard let value = Int(text) else { throw ParseError() }
                    return value
                }
                .collect("out")
            try flow.run()
            return (collected.values.reduce(0, +), flow.udfErrors)
        }
        let bad = inputs.filter { $0.hasPrefix("bad") }
        #expect(errors == bad.count)
        #expect(sum == inputs.compactMap { Int($0) }.reduce(0, +))
        // Each error event sits on an entry record whose key is the failing input's.
        let failed = graph.records.values.filter { $0.events.contains { $0.event == RecordEvent.error.code } }
        #expect(Set(failed.map(\.keyHash)) == Set(bad.map(\.traceKeyHash)))
        #expect(failed.allSatisfy { $0.kind == .entry })
    }
}

extension SwiftAPITests {
    @Test("bad engine configuration is an error from run(), never a trap")
    func badConfiguration() {
        func attempt(_ configure: (inout DataflowConfiguration) -> Void, sourceParallelism: Int = 1, rebalance: Int? = nil) -> String? {
            var configuration = DataflowConfiguration()
            configure(&configuration)
            let flow = Dataflow(configuration)
            var stream = flow.source("numbers", [1, 2, 3], parallelism: sourceParallelism).map("double") { $0 * 2 }
            if let rebalance { stream = stream.rebalance("spread", parallelism: rebalance) }
            _ = stream.collect("out")
            do {
                try flow.run()
                return nil
            } catch {
                return error.description
            }
        }
        #expect(attempt({ $0.parallelism = 0 }, rebalance: nil)?.contains("parallelism") == true)
        #expect(attempt({ $0.batchSize = 0 })?.contains("batchSize") == true)
        #expect(attempt({ $0.queueCapacity = -3 })?.contains("queueCapacity") == true)
        #expect(attempt({ _ in }, sourceParallelism: 0)?.contains("'numbers' has parallelism 0") == true)
        #expect(attempt({ _ in }, sourceParallelism: -2)?.contains("'numbers'") == true)
        #expect(attempt({ _ in }, rebalance: -1)?.contains("'spread'") == true)
        #expect(attempt({ _ in }) == nil, "the same plan with good settings runs")
    }

    @Test("a thread that cannot start fails run() instead of deadlocking the dataflow")
    func threadStartFailure() {
        var configuration = DataflowConfiguration()
        // No system gives a thread a 2^50-byte stack: pthread_create fails for the first stage.
        configuration.threadStackBytes = 1 << 50
        let flow = Dataflow(configuration)
        let out = flow.source("numbers", Array(0..<10_000)).rebalance("spread").collect("out")
        #expect(throws: DataflowError.self) { try flow.run() }
        #expect(out.records.isEmpty, "no stage ran")
    }
}
