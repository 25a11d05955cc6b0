import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("spoor collect with X-Trace over TCP")
struct CollectXTraceTests {
    @Test("spoor replay --send into spoor collect --xtrace-listen: the collector flags what spoor flows detect flags")
    func replayIntoTheCollector() throws {
        let data = traceBench()
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let normal = try FileManager.default.contentsOfDirectory(atPath: data).filter { $0.hasPrefix("NM_") }.sorted()
        let failed = data + "/AN_Net_disconnectDN_w_50FDN_30C_1to19B_0to600INT_15RT_5WT"
        let model = directory + "/model.json"
        #expect(try runCLI(["flows", "learn", "-o", model] + normal.flatMap { ["--tracebench", data + "/" + $0] }).status == 0)
        let detect = try runCLI(["flows", "detect", "--model", model, "--tracebench", failed])
        let expected = Set(try detect.objects().filter { $0["kind"] as? String == "structural" }.compactMap { $0["trace"] as? String })
        #expect(expected.count > 10)

        // The collector: no Spoor segment matches its prefix, so it only takes X-Trace reports.
        let collector = Process()
        collector.executableURL = try cliExecutable()
        collector.arguments = ["collect", "--xtrace-listen", "0", "--model", model, "--segment-prefix", "no-such-segment-", "--expiry", "60"]
        let output = Pipe(), errors = Pipe()
        collector.standardOutput = output
        collector.standardError = errors
        try collector.run()
        // The port, from the line it writes once it listens.
        var seen = ""
        var port: String?
        while port == nil {
            let chunk = errors.fileHandleForReading.availableData
            guard !chunk.isEmpty else { break }
            seen += String(decoding: chunk, as: UTF8.self)
            port = seen.firstMatch(of: /listening for X-Trace reports on 127\.0\.0\.1:(\d+)/).map { String($0.1) }
        }
        let listening = try #require(port, "no listening line: \(seen)")

        let replay = try runCLI(["replay", "--tracebench", failed, "--send", "127.0.0.1:" + listening, "--multiply", "2"])
        #expect(replay.status == 0, "\(replay.standardError)")
        let sent = try #require(try replay.objects().first)
        let traces = try #require(sent["traces"] as? Int)
        #expect(traces % 2 == 0 && traces >= 2 * expected.count, "every trace of the folder, twice")
        // Everything sent is in the collector's socket or read; at SIGTERM it takes what arrived,
        // assembles the open traces and prints their verdicts.
        kill(collector.processIdentifier, SIGTERM)
        let lines = output.fileHandleForReading.readDataToEndOfFile()
        _ = errors.fileHandleForReading.readDataToEndOfFile()
        collector.waitUntilExit()
        #expect(collector.terminationStatus == 0)
        let verdicts = String(decoding: lines, as: UTF8.self).split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        let structural = verdicts.filter { $0["kind"] as? String == "structural" }.compactMap { $0["trace"] as? String }
        // The first copy keeps the trace ids; the second has fresh ones: twice as many, the same shapes.
        #expect(structural.count == 2 * expected.count)
        #expect(expected.isSubset(of: Set(structural)), "the first copy's anomalies are the same traces")
    }
}
