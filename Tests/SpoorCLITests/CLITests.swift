import Foundation
import SpoorLineage
import SpoorLog
import SpoorSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

let dumpFields = [
    "run", "run_id", "pid", "kind", "id", "fanout", "parents", "op", "operator", "call_site", "key_hash",
    "start_ns", "start_utc", "end_ns", "end_utc", "duration_ns", "thread", "partition", "event", "fold",
    "truncated", "attachment",
]
let internalDumpFields = ["segment", "ring", "pos", "slots", "flags"]
let statsFields = [
    "run", "run_id", "pid", "runs", "directory", "started_utc", "segments", "reports", "entries", "checkpoints",
    "pokes", "threads", "operators", "closed", "written", "committed", "dropped", "sampled", "drained",
    "sink_errors", "damaged_segments", "losses",
]

/// Checks that `line` has exactly `fields` at its top level, in this order.
func expectFields(_ line: Substring, _ object: [String: Any], _ fields: [String]) {
    #expect(Set(object.keys) == Set(fields), "fields of \(line)")
    #expect(object.count == fields.count)
    var searchFrom = line.startIndex
    for field in fields {
        guard let range = line.range(of: "\"\(field)\":", range: searchFrom..<line.endIndex) else {
            Issue.record("field \(field) missing or out of order in \(line)")
            return
        }
        searchFrom = range.upperBound
    }
}

func isNull(_ value: Any?) -> Bool { value is NSNull }

@Suite("spoor command line")
struct CLITests {
    @Test("a directory with no run, a missing path and a file are errors with a message")
    func noRun() throws {
        let empty = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: empty) }
        #expect(mkdir(empty + "/not-a-run", 0o700) == 0)
        let file = empty + "/not-a-run/file"
        #expect(FileManager.default.createFile(atPath: file, contents: Data("x".utf8)))
        for command in ["dump", "stats"] {
            let none = try runCLI([command, empty])
            #expect(none.status == 1)
            #expect(none.standardOutput.isEmpty)
            #expect(none.standardError.contains("spoor: no run in \(empty)"), "\(none.standardError)")

            let missing = try runCLI([command, empty + "/missing"])
            #expect(missing.status == 1)
            #expect(missing.standardError.contains("cannot read \(empty)/missing: No such file or directory"))

            let notDirectory = try runCLI([command, file])
            #expect(notDirectory.status == 1)
            #expect(notDirectory.standardError.contains("\(file) is not a directory"))
        }
        // A lineage graph of such a directory is an error too.
        #expect(throws: LogError.self) { try LineageGraph(logAt: empty) }
    }

    @Test("every dump line has the same fields; what was not measured is null; times in UTC too")
    func nullShapes() throws {
        let root = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let identity = RunIdentity(
            runID: 0x0123_4567_89ab_cdef, pid: 4242, realtimeNanos: 1_700_000_000_123_456_789, monotonicNanos: 5_000)
        let reports = [
            report(.entry, id: 1, op: 9, end: 6_000),
            report(.checkpoint, id: 2, parents: [1], op: 1, keyHash: 0xabc, start: 6_000, end: 7_500, partition: 3),
            report(.checkpoint, id: 3, parents: [2], op: 1, end: 8_000),
            report(.poke, id: 2, op: 1, end: 9_000, event: 9),
            report(.checkpoint, id: 4, parents: [3], op: 1, start: 10, end: 20),
        ]
        try writeRun(
            root: root, name: "20231114T221320Z-4242-89abcdef", identity: identity,
            operators: [OperatorRecord(id: 1, name: "map", callSite: "")], reports: reports)
        // Before 1970 on the wall clock: the conversion counts back from the epoch.
        try writeRun(
            root: root, name: "20231114T221321Z-4243-00000001",
            identity: RunIdentity(runID: 1, pid: 4243, realtimeNanos: 1_000, monotonicNanos: 10_000_000_000),
            operators: [], reports: [report(.entry, id: 100, op: 0, end: 1_000)])

        let result = try runCLI(["dump", root])
        #expect(result.status == 0)
        #expect(result.standardError.isEmpty)
        let lines = result.standardOutput.split(separator: "\n")
        let objects = try result.objects()
        try #require(objects.count == 6)
        for (line, object) in zip(lines, objects) { expectFields(line, object, dumpFields) }

        let entry = objects[0]
        #expect(entry["run"] as? String == "20231114T221320Z-4242-89abcdef")
        #expect(entry["run_id"] as? String == "0123456789abcdef")
        #expect(entry["pid"] as? Int == 4242)
        #expect(entry["kind"] as? String == "entry")
        #expect(entry["id"] as? String == "0000000000000001")
        #expect((entry["parents"] as? [Any])?.isEmpty == true)
        #expect(entry["op"] as? Int == 9)
        for field in ["operator", "call_site", "key_hash", "start_ns", "start_utc", "duration_ns", "partition", "event"] {
            #expect(isNull(entry[field]), "entry \(field) is null")
        }
        #expect(entry["end_ns"] as? Int == 6_000)
        #expect(entry["end_utc"] as? String == "2023-11-14T22:13:20.123457789Z")
        #expect((entry["attachment"] as? [Any])?.isEmpty == true)

        let measured = objects[1]
        #expect(measured["operator"] as? String == "map")
        #expect(isNull(measured["call_site"]), "an empty call site is null")
        #expect(measured["key_hash"] as? String == "0000000000000abc")
        #expect(measured["start_ns"] as? Int == 6_000)
        #expect(measured["start_utc"] as? String == "2023-11-14T22:13:20.123457789Z")
        #expect(measured["end_utc"] as? String == "2023-11-14T22:13:20.123459289Z")
        #expect(measured["duration_ns"] as? Int == 1_500)
        #expect(measured["partition"] as? Int == 3)
        #expect((measured["parents"] as? [String]) == ["0000000000000001"])

        let unmeasured = objects[2]
        #expect(isNull(unmeasured["start_ns"]) && isNull(unmeasured["start_utc"]))
        #expect(isNull(unmeasured["duration_ns"]), "no start, no duration (not 0)")
        #expect(unmeasured["end_ns"] as? Int == 8_000)

        #expect(objects[3]["event"] as? String == "filtered")
        #expect(objects[4]["start_utc"] as? String == "2023-11-14T22:13:20.123451799Z", "before the clock pair")
        #expect(objects[4]["duration_ns"] as? Int == 10)
        #expect(objects[5]["end_utc"] as? String == "1969-12-31T23:59:50.000002000Z")
        #expect(objects[5]["op"] as? Int == 0 && isNull(objects[5]["operator"]))

        // Internal fields only on request.
        let withInternal = try runCLI(["dump", "--internal", root])
        let internalObjects = try withInternal.objects()
        try #require(internalObjects.count == 6)
        for (line, object) in zip(withInternal.standardOutput.split(separator: "\n"), internalObjects) {
            expectFields(line, object, dumpFields + internalDumpFields)
        }
        #expect(internalObjects[1]["slots"] as? Int == 1 && internalObjects[1]["segment"] as? Int == 0)
        #expect(internalObjects.map { $0["pos"] as? Int } == [0, 1, 2, 3, 4, 0])
    }

    @Test("repeated attachment keys are separate array elements, binary values are hex")
    func attachments() throws {
        let root = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let quoted = "a\"b\\c\nd\u{1}"
        try writeRun(
            root: root, name: "20231114T221320Z-1-00000001",
            identity: RunIdentity(runID: 1, pid: 1, realtimeNanos: 1, monotonicNanos: 1), operators: [],
            reports: [report(.entry, id: 1, op: 0, end: 5, attachment: [
                ("k", Array("a".utf8)), ("k", Array("b".utf8)), ("bin", [0x00, 0xff]), (quoted, Array(quoted.utf8)),
            ])])
        let result = try runCLI(["dump", root])
        #expect(result.status == 0)
        #expect(result.standardOutput.contains(
            #""attachment":[{"key":"k","value":"a","encoding":"utf8"},{"key":"k","value":"b","encoding":"utf8"},{"key":"bin","value":"00ff","encoding":"hex"},"#))
        let object = try #require(try result.objects().first)
        let pairs = try #require(object["attachment"] as? [[String: String]])
        #expect(pairs.map { $0["key"] } == ["k", "k", "bin", quoted])
        #expect(pairs.map { $0["value"] } == ["a", "b", "00ff", quoted])
        #expect(pairs.map { $0["encoding"] } == ["utf8", "utf8", "hex", "utf8"])
    }

    /// Three runs of a log root whose operator tables use the same ids for different operators;
    /// run B's checkpoint has a parent from run A.
    func threeRuns() throws -> (root: String, names: [String]) {
        let root = temporaryDirectory()
        let names = ["20260101T000000Z-100-000000a1", "20260101T000001Z-200-000000b2", "20260101T000002Z-300-000000c3"]
        try writeRun(
            root: root, name: names[0],
            identity: RunIdentity(runID: 0x5eed_0000_0000_00a1, pid: 100, realtimeNanos: 1_767_225_600_000_000_000, monotonicNanos: 1),
            operators: [OperatorRecord(id: 1, name: "read", callSite: "a.c:1"), OperatorRecord(id: 2, name: "parse", callSite: "a.c:2")],
            reports: [report(.entry, id: 0xa001, op: 1, end: 10), report(.checkpoint, id: 0xa002, parents: [0xa001], op: 2, start: 11, end: 12)])
        try writeRun(
            root: root, name: names[1],
            identity: RunIdentity(runID: 0x5eed_0000_0000_00b2, pid: 200, realtimeNanos: 1_767_225_601_000_000_000, monotonicNanos: 1),
            operators: [OperatorRecord(id: 1, name: "load", callSite: "b.c:1"), OperatorRecord(id: 2, name: "split", callSite: "b.c:2")],
            reports: [report(.entry, id: 0xb001, op: 1, end: 10), report(.checkpoint, id: 0xb002, parents: [0xa002, 0xb001], op: 2, start: 11, end: 14)])
        try writeRun(
            root: root, name: names[2],
            identity: RunIdentity(runID: 0x5eed_0000_0000_00c3, pid: 300, realtimeNanos: 1_767_225_602_000_000_000, monotonicNanos: 1),
            operators: [OperatorRecord(id: 1, name: "scan", callSite: "c.c:1")],
            reports: [report(.entry, id: 0xc001, op: 1, end: 10), report(.checkpoint, id: 0xc002, parents: [0xb002], op: 2, start: 11, end: 15)],
            closed: false)
        return (root, names)
    }

    @Test("a lineage graph of several runs names each record's operator from its own run's table")
    func lineageOfThreeRuns() throws {
        let (root, names) = try threeRuns()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let graph = try LineageGraph(logAt: root)
        #expect(graph.runs.map(\.pid) == [100, 200, 300])
        let expected: [UInt64: String?] = [
            0xa001: "read", 0xa002: "parse", 0xb001: "load", 0xb002: "split", 0xc001: "scan", 0xc002: nil,
        ]
        for (id, name) in expected {
            #expect(graph.operatorName(of: id) == name, "operator of \(hex64(id))")
        }
        #expect(graph.records[0xb002]?.run == 1)
        #expect(graph.backward(from: 0xc002) == [0xb002, 0xa002, 0xb001, 0xa001])
        #expect(graph.canonicalBackward(of: 0xc002) == "op2#0(split#0(load#0(),parse#0(read#0())))")

        let selected = try LineageGraph(logAt: root, selecting: [names[1]])
        #expect(selected.runs.map(\.pid) == [200])
        #expect(selected.operatorName(of: 0xb002) == "split")
        #expect(selected.records[0xa002]?.kind == nil, "a parent from an unselected run is only an id")
    }

    @Test("dump and stats read every run with its own operator names, or the runs --run selects")
    func dumpAndStatsOfThreeRuns() throws {
        let (root, names) = try threeRuns()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let all = try runCLI(["dump", root])
        #expect(all.status == 0)
        let lines = try all.objects().map { "\($0["run"] as? String ?? "?") \($0["id"] as? String ?? "?") \($0["operator"] as? String ?? "null")" }
        #expect(lines == [
            "\(names[0]) 000000000000a001 read", "\(names[0]) 000000000000a002 parse",
            "\(names[1]) 000000000000b001 load", "\(names[1]) 000000000000b002 split",
            "\(names[2]) 000000000000c001 scan", "\(names[2]) 000000000000c002 null",
        ])
        #expect(try all.objects().map { $0["pid"] as? Int } == [100, 100, 200, 200, 300, 300])

        // By directory name, by id suffix, by full run id; repeated.
        let selected = try runCLI(["dump", root, "--run", names[2], "--run", "000000A1"])
        #expect(selected.status == 0)
        #expect(try selected.objects().map { $0["run"] as? String } == [names[0], names[0], names[2], names[2]])
        let byID = try runCLI(["dump", root, "--run", "5eed0000000000b2"])
        #expect(try byID.objects().map { $0["operator"] as? String } == ["load", "split"])
        let unknown = try runCLI(["dump", root, "--run", "000000d4"])
        #expect(unknown.status == 1)
        #expect(unknown.standardError.contains("no run named 000000d4"))
        #expect(unknown.standardOutput.isEmpty)
        // A run directory given directly is its only run.
        let direct = try runCLI(["dump", root + "/" + names[1]])
        #expect(try direct.objects().map { $0["run"] as? String } == [names[1], names[1]])

        let stats = try runCLI(["stats", root, "--run", names[0], "--run", names[2]])
        #expect(stats.status == 0)
        let perRun = try stats.objects()
        try #require(perRun.count == 2)
        for (line, object) in zip(stats.standardOutput.split(separator: "\n"), perRun) { expectFields(line, object, statsFields) }
        #expect(perRun[0]["run"] as? String == names[0])
        #expect(perRun[0]["run_id"] as? String == "5eed0000000000a1")
        #expect(perRun[0]["started_utc"] as? String == "2026-01-01T00:00:00.000000000Z")
        let operatorsA = try #require(perRun[0]["operators"] as? [[String: Any]])
        #expect(operatorsA.map { $0["name"] as? String } == ["read", "parse"])
        #expect(operatorsA.map { $0["total_duration_ns"] as? Int } == [0, 1])
        #expect(perRun[0]["closed"] as? Bool == true && perRun[0]["written"] as? Int == 2)
        let operatorsC = try #require(perRun[1]["operators"] as? [[String: Any]])
        #expect(operatorsC.map { $0["op"] as? Int } == [1, 2])
        #expect(operatorsC[0]["name"] as? String == "scan" && isNull(operatorsC[1]["name"]))
        #expect(perRun[1]["closed"] as? Bool == false)
        for field in ["written", "committed", "dropped", "sampled", "drained", "sink_errors"] {
            #expect(isNull(perRun[1][field]), "\(field) of an unclosed run is null")
        }

        let merged = try runCLI(["stats", "--merge", root])
        let total = try #require(try merged.objects().first)
        expectFields(try #require(merged.standardOutput.split(separator: "\n").first), total, statsFields)
        #expect(try merged.objects().count == 1)
        #expect(isNull(total["run"]) && isNull(total["run_id"]) && isNull(total["pid"]))
        #expect(total["runs"] as? [String] == names)
        #expect(total["reports"] as? Int == 6 && total["threads"] as? Int == 3)
        #expect(total["started_utc"] as? String == "2026-01-01T00:00:00.000000000Z")
        let mergedOperators = try #require(total["operators"] as? [[String: Any]])
        #expect(mergedOperators.map { $0["name"] as? String ?? "null" } == ["null", "load", "parse", "read", "scan", "split"])
        #expect(mergedOperators.map { $0["reports"] as? Int } == [1, 1, 1, 1, 1, 1])
        #expect(total["closed"] as? Bool == false, "run C did not close")
        let mergedClosed = try runCLI(["stats", "--merge", root, "--run", names[0], "--run", names[1]])
        let closedTotal = try #require(try mergedClosed.objects().first)
        #expect(closedTotal["closed"] as? Bool == true && closedTotal["written"] as? Int == 4)
    }

    @Test("one run directory holding two processes' segments keeps their operator tables apart")
    func twoProcessesInOneDirectory() throws {
        let root = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let name = "20260101T000000Z-1-00000001"
        try writeRun(
            root: root, name: name, identity: RunIdentity(runID: 0x11, pid: 1, realtimeNanos: 1, monotonicNanos: 1),
            operators: [OperatorRecord(id: 1, name: "alpha", callSite: "")],
            reports: [report(.entry, id: 0x100, op: 1, end: 5)], closed: false)
        try writeRun(
            root: root, name: name, identity: RunIdentity(runID: 0x22, pid: 2, realtimeNanos: 1, monotonicNanos: 1),
            operators: [OperatorRecord(id: 1, name: "beta", callSite: "")],
            reports: [report(.checkpoint, id: 0x200, parents: [0x100], op: 1, start: 6, end: 7)], firstSegment: 1)
        // A third segment of the first process again (its table is the one it wrote before).
        try writeRun(
            root: root, name: name, identity: RunIdentity(runID: 0x11, pid: 1, realtimeNanos: 1, monotonicNanos: 1),
            operators: [], reports: [report(.poke, id: 0x200, op: 1, end: 8, event: 10)], firstSegment: 2,
            firstPosition: 1)  // the process's ring goes on after its first report

        let dump = try runCLI(["dump", root])
        #expect(dump.status == 0)
        #expect(try dump.objects().map { "\($0["pid"] as? Int ?? -1) \($0["operator"] as? String ?? "null")" } == ["1 alpha", "2 beta", "1 alpha"])
        let stats = try runCLI(["stats", root])
        let line = try #require(try stats.objects().first)
        let operators = try #require(line["operators"] as? [[String: Any]])
        #expect(operators.map { $0["name"] as? String } == ["alpha", "beta"])
        #expect(operators.map { $0["reports"] as? Int } == [2, 1])
        #expect(line["closed"] as? Bool == true && line["written"] as? Int == 2, "both processes closed: counters summed")
        let graph = try LineageGraph(logAt: root)
        #expect(graph.runs.map(\.pid) == [1, 2])
        #expect(graph.operatorName(of: 0x100) == "alpha" && graph.operatorName(of: 0x200) == "beta")
        #expect(graph.records[0x200]?.events.map(\.run) == [0], "the poke came from the first process")
    }

    @Test("UTC times across leap days, centuries and the epoch; times past the range are null")
    func utcCalendar() throws {
        let root = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let ends: [UInt64] = [1_000_000_000_000_000_000, 1_000_000_000_000_000_001, 242_574_400_000_000_001, 3_398_291_200_000_000_001, UInt64(Int64.max)]
        try writeRun(
            root: root, name: "20240229T235959Z-1-00000001",
            identity: RunIdentity(runID: 1, pid: 1, realtimeNanos: 1_709_251_199_999_999_999, monotonicNanos: 1_000_000_000_000_000_000),
            operators: [], reports: ends.enumerated().map { report(.entry, id: UInt64($0.offset + 1), op: 0, end: $0.element) })
        try writeRun(
            root: root, name: "20240229T235959Z-2-00000002",
            identity: RunIdentity(runID: 2, pid: 2, realtimeNanos: 1, monotonicNanos: 5_000_000_000_000_000_000),
            operators: [], reports: [2_796_108_799_999_999_999, 4_999_999_999_999_999_998].map { report(.entry, id: $0, op: 0, end: $0) })
        let objects = try runCLI(["dump", root]).objects()
        #expect(objects.map { $0["end_utc"] as? String ?? "null" } == [
            "2024-02-29T23:59:59.999999999Z", "2024-03-01T00:00:00.000000000Z", "2000-02-29T12:00:00.000000000Z",
            "2100-03-01T00:00:00.000000000Z", "null", "1900-03-01T00:00:00.000000000Z", "1969-12-31T23:59:59.999999999Z",
        ])
        #expect(objects[4]["end_ns"] as? Int == Int(Int64.max), "the monotonic time is still printed")
    }

    @Test("monotonic times convert to the wall clock with the segment's clock pair")
    func wallClock() {
        let identity = RunIdentity(runID: 1, pid: 1, realtimeNanos: 1_000_000, monotonicNanos: 500)
        #expect(identity.realtimeNanos(atMonotonic: 700) == 1_000_200)
        #expect(identity.realtimeNanos(atMonotonic: 100) == 999_600)
        #expect(identity.realtimeNanos(atMonotonic: 0) == nil, "0 is a time that was not measured")
        #expect(RunIdentity(runID: 1, pid: 1, realtimeNanos: 0, monotonicNanos: 5).realtimeNanos(atMonotonic: 9) == nil)
        #expect(RunIdentity(runID: 1, pid: 1, realtimeNanos: UInt64.max, monotonicNanos: 5).realtimeNanos(atMonotonic: 9) == nil)
        let late = RunIdentity(runID: 1, pid: 1, realtimeNanos: UInt64(Int64.max), monotonicNanos: 0)
        #expect(late.realtimeNanos(atMonotonic: 1) == nil, "overflow is nil, not a trap")
    }

    @Test("help describes the fields")
    func help() throws {
        let top = try runCLI(["--help"])
        #expect(top.status == 0 && top.standardOutput.contains("run directory"))
        let dump = try runCLI(["help", "dump"])
        for field in dumpFields + internalDumpFields { #expect(dump.standardOutput.contains(field), "dump help names \(field)") }
        let stats = try runCLI(["help", "stats"])
        for field in statsFields { #expect(stats.standardOutput.contains(field), "stats help names \(field)") }
        let recover = try runCLI(["help", "recover"])
        for field in ["run_directory", "recovered", "drained_by_collector", "damaged_rings"] {
            #expect(recover.standardOutput.contains(field), "recover help names \(field)")
        }
    }
}
