import Spoor
import SpoorDataflow
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A partitioner file placing `placed` keys (by their trace key hash) on partitions.
func partitionerJSON(partitions: Int, placed: [(UInt64, Int, Int)], keep: [Double]? = nil, spill: [Double]? = nil) -> String {
    func hex(_ value: UInt64) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
    let keys = placed.map { #"{"key_hash":"\#(hex($0.0))","partition":\#($0.1),"salts":\#($0.2)}"# }.joined(separator: ",")
    var text = #"{"format":"spoor-partitioner","version":1,"hash":"spoor-mix17","partitions":\#(partitions),"keys":[\#(keys)]"#
    if let keep, let spill {
        text += #","keep":[\#(keep.map { "\($0)" }.joined(separator: ","))],"spill":[\#(spill.map { "\($0)" }.joined(separator: ","))]"#
    }
    return text + "}"
}

/// Records every routing decision of the partitioner it wraps.
final class RecordingPartitioner: Partitioner {
    let inner: any Partitioner
    let decisions = Mutex<[UInt64: Set<Int>]>([:])
    init(_ inner: any Partitioner) { self.inner = inner }
    func partition(keyHash: UInt64, partitions: Int) -> Int {
        let partition = inner.partition(keyHash: keyHash, partitions: partitions)
        decisions.withLock { _ = $0[keyHash, default: []].insert(partition) }
        return partition
    }
}

@Suite("Partitioner files from spoor skew")
struct SkewPartitionerTests {
    @Test("a loaded file places its keys, salts them, and hashes the rest exactly as HashPartitioner")
    func placesAndHashes() throws {
        let heavy = "alpha".traceKeyHash
        let partitioner = try SkewPartitioner(json: Array(partitionerJSON(partitions: 5, placed: [(heavy, 3, 2), (0, 1, 1)]).utf8))
        #expect(partitioner.partitions == 5 && partitioner.placedKeys == 2)
        #expect(partitioner.partition(keyHash: heavy) == 3 && partitioner.salts(keyHash: heavy) == 2)
        #expect(partitioner.partition(keyHash: 0) == 1 && partitioner.salts(keyHash: 0) == 1)
        var disagree = 0
        for key in 1...20_000 where key.traceKeyHash != heavy {
            if partitioner.partition(keyHash: key.traceKeyHash, partitions: 5)
                != HashPartitioner().partition(keyHash: key.traceKeyHash, partitions: 5) { disagree += 1 }
            if partitioner.salts(keyHash: key.traceKeyHash) != 1 { disagree += 1 }
        }
        #expect(disagree == 0)
        // Another exchange width: plain hashing, never the file's placement.
        #expect(partitioner.partition(keyHash: heavy, partitions: 4) == HashPartitioner().partition(keyHash: heavy, partitions: 4))
    }

    @Test("spilled keys leave the partitions the plan empties")
    func spills() throws {
        let partitioner = try SkewPartitioner(json: Array(partitionerJSON(
            partitions: 4, placed: [], keep: [0, 1, 1, 1], spill: [0, 1, 1, 1]).utf8))
        var counts = [0, 0, 0, 0]
        for key in 0..<40_000 { counts[partitioner.partition(keyHash: key.traceKeyHash)] += 1 }
        #expect(counts[0] == 0 && counts[1...].allSatisfy { $0 > 12_000 })
    }

    @Test("malformed and missing files are refused with the reason, and the partitioner in force stays")
    func refusals() throws {
        #expect(throws: SpoorError.self) { try SkewPartitioner(json: Array("{}".utf8)) }
        do {
            _ = try SkewPartitioner(json: Array(#"{"format":"spoor-partitioner","version":1,"hash":"spoor-mix17","partitions":4,"keys":[{"key_hash":"12","partition":0}]}"#.utf8))
            Issue.record("accepted a 2-digit key hash")
        } catch {
            #expect(error.code == -12 /* SPOOR_E_PARSE */ && error.message.contains("not 16 hex digits"))
        }
        let handle = PartitionerHandle(AssignedKeyPartitioner(assignments: [7: 1]))
        do {
            try handle.replace(withContentsOf: "/nonexistent/spoor-partitioner.json")
            Issue.record("loaded a missing file")
        } catch {
            #expect(error.code == -13) // SPOOR_E_IO
        }
        // The handle kept its partitioner (version 0: never replaced).
        #expect(handle.version == 0)
    }

    @Test("a partitioner file swapped in mid-stream: every window's counts unchanged, its placements in force after")
    func swapFromFileMidStream() throws {
        let text = sentences(4_000)
        let directory = temporaryDirectory()
        let path = directory + "/partitioner.json"
        let alpha = "alpha".traceKeyHash, beta = "beta".traceKeyHash
        // Both heavy words on partition 0 of 2, everything else hashed.
        let json = partitionerJSON(partitions: 2, placed: [(alpha, 0, 1), (beta, 0, 1)])
        let file = try #require(fopen(path, "wb"))
        _ = json.utf8CString.withUnsafeBufferPointer { fwrite($0.baseAddress, 1, $0.count - 1, file) }
        fclose(file)
        defer { unlink(path); rmdir(directory) }

        let before = RecordingPartitioner(HashPartitioner())
        let handle = PartitionerHandle(before)
        var configuration = DataflowConfiguration()
        configuration.parallelism = 2
        configuration.batchSize = 32
        let flow = Dataflow(configuration)
        let swapped = Atomic<Bool>(false)
        let failure = Mutex<String?>(nil)
        let after = Mutex<RecordingPartitioner?>(nil)
        let perWindow = Mutex<[UInt64: [String: Int]]>([:])
        flow.source("sentences", text, windowing: .count(500))
            .flatMap("split") { $0.split(separator: " ").map(String.init) }
            .keyBy("pair") { KeyValue($0, 1) }
            .reduceByKey("count", partitioner: handle) { $0 + $1 }
            .sink("out", onWindow: { window in
                if window == 2, !swapped.exchange(true, ordering: .relaxed) {
                    do {
                        let loaded = RecordingPartitioner(try SkewPartitioner(contentsOf: path))
                        after.withLock { $0 = loaded }
                        handle.replace(with: loaded)
                    } catch {
                        failure.withLock { $0 = "\(error)" }
                    }
                }
            }) { record, window in
                perWindow.withLock { $0[window, default: [:]][record.value.key, default: 0] += record.value.value }
            }
        try flow.run()
        #expect(failure.withLock { $0 } == nil)
        let results = perWindow.withLock { $0 }
        #expect(results.count == 8)
        for window in 0..<8 {
            let slice = Array(text[(window * 500)..<((window + 1) * 500)])
            #expect(results[UInt64(window)] == wordCounts(slice), "window \(window)")
        }
        let loaded = try #require(after.withLock { $0 })
        let routed = loaded.decisions.withLock { $0 }
        #expect(routed[alpha] == [0] && routed[beta] == [0])
        // Before the swap plain hashing put the two words where it does.
        let hashed = before.decisions.withLock { $0 }
        #expect(hashed[alpha] == [HashPartitioner().partition(keyHash: alpha, partitions: 2)])
    }
}
