import Foundation
import SpoorLog
import SpoorSupport
import Testing

@Suite("spoor skew")
struct SkewCLITests {
    /// A run whose "count" operator (8 instances, partitions set by hashing) emits 20,000 keyed
    /// records: three planted heavy keys (12%, 8%, 5%) and a tail over 5,000 keys; "parse"
    /// emits unkeyed records.
    func plantedRun(root: String) throws -> [UInt64: Int] {
        var state: UInt64 = 11
        var reports: [Report] = []
        var truth: [UInt64: Int] = [:]
        let heavy: [(UInt64, Int)] = [(0xaaaa_0000_0000_0001, 2_400), (0xaaaa_0000_0000_0002, 1_600), (0xaaaa_0000_0000_0003, 1_000)]
        var keys: [UInt64] = heavy.flatMap { repeatElement($0.0, count: $0.1) }
        while keys.count < 20_000 { keys.append(0x1000 + splitMix64(&state) % 5_000) }
        for (i, key) in keys.enumerated() {
            truth[key, default: 0] += 1
            let partition = UInt32(((key &* 0x9e37_79b9_7f4a_7c15) >> 17) % 8)
            reports.append(report(.checkpoint, id: UInt64(0x10_0000 + i), parents: [1], op: 2, keyHash: key, end: UInt64(i),
                                  partition: partition, attachment: key == heavy[0].0 && i == 0 ? [("key", Array("the".utf8))] : []))
        }
        reports.append(report(.entry, id: 1, op: 1, end: 0))
        try writeRun(
            root: root, name: "20260101T000000Z-11-00000001",
            identity: RunIdentity(runID: 1, pid: 11, realtimeNanos: 1, monotonicNanos: 1),
            operators: [OperatorRecord(id: 1, name: "parse", callSite: "wc.c:1"), OperatorRecord(id: 2, name: "count", callSite: "wc.c:2")],
            reports: reports)
        return truth
    }

    @Test("names the planted keys within the error bound, plans and writes a partitioner")
    func plantedKeys() throws {
        let root = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let truth = try plantedRun(root: root)
        let result = try runCLI(["skew", root, "--json", "--top", "5", "--counters", "256", "-o", root + "/p.json"])
        #expect(result.status == 0, "\(result.standardError)")
        let lines = try result.objects()
        #expect(lines.count == 1, "one keyed operator")
        let line = try #require(lines.first)
        #expect(line["operator"] as? String == "count (wc.c:2)")
        #expect(line["keyed_records"] as? Double == 20_000)
        #expect(line["instances"] as? Int == 8)
        let bound = try #require(line["error_share"] as? Double)
        #expect(bound > 0 && bound <= 1.0 / 256)
        let keys = try #require(line["keys"] as? [[String: Any]])
        let top3 = keys.prefix(3).compactMap { ($0["key_hash"] as? String).flatMap { UInt64($0, radix: 16) } }
        #expect(top3 == [0xaaaa_0000_0000_0001, 0xaaaa_0000_0000_0002, 0xaaaa_0000_0000_0003])
        for entry in keys.prefix(3) {
            let key = try #require((entry["key_hash"] as? String).flatMap { UInt64($0, radix: 16) })
            let share = try #require(entry["share"] as? Double)
            #expect(abs(share - Double(truth[key]!) / 20_000) <= bound + 1e-6)
        }
        #expect(keys.first?["value"] as? String == "the")
        let plan = try #require(line["plan"] as? [String: Any])
        #expect(plan["partitions"] as? Int == 8)
        let before = try #require(plan["imbalance_hashing"] as? Double), after = try #require(plan["imbalance_hybrid"] as? Double)
        #expect(after < before && after < 1.1, "hybrid \(after), hashing \(before)")
        let observed = try #require(line["observed_imbalance"] as? Double)
        #expect(abs(observed - before) < 0.15, "the observed instances match the hashing estimate: \(observed) vs \(before)")
        let file = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: root + "/p.json"))) as? [String: Any]
        #expect(file?["format"] as? String == "spoor-partitioner" && file?["partitions"] as? Int == 8)
        #expect((file?["keys"] as? [[String: Any]])?.count == (plan["placed"] as? [Any])?.count)
        // Text output names the same keys; --previous with the written file keeps them in place.
        let text = try runCLI(["skew", root, "--previous", root + "/p.json", "--operator", "count"])
        #expect(text.status == 0, "\(text.standardError)")
        #expect(text.standardOutput.contains("count (wc.c:2): 20000 keyed records; 8 instances seen"))
        #expect(text.standardOutput.contains("1. aaaa000000000001 \"the\""))
        #expect(text.standardOutput.contains("plan over 8 partitions"))
    }

    @Test("errors: no keyed operator, a bad previous file")
    func errors() throws {
        let root = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        _ = try plantedRun(root: root)
        let missing = try runCLI(["skew", root, "--operator", "parse"])
        #expect(missing.status == 1 && missing.standardError.contains("no keyed reports of operator parse"))
        try Data("{}".utf8).write(to: URL(fileURLWithPath: root + "/bad.json"))
        let bad = try runCLI(["skew", root, "--previous", root + "/bad.json"])
        #expect(bad.status == 1 && bad.standardError.contains("format is missing"))
        let zero = try runCLI(["skew", root, "--partitions", "0"])
        #expect(zero.status != 0)
    }
}
