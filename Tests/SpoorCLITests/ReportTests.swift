import Foundation
import SpoorLog
import Testing

/// Checks that `html` needs nothing from outside the file: no scripts, style sheets, images or
/// frames loaded from anywhere, and every in-page link has its target.
private func expectSelfContained(_ html: String) {
    for forbidden in ["<script", "<link", "<img", "<iframe", "@import", "url(", "src=", "href=\"http", "xlink:href=\"http"] {
        #expect(!html.contains(forbidden), "the page refers to an outside resource: \(forbidden)")
    }
    let ids = Set(html.matches(of: /id="([^"]+)"/).map { String($0.1) })
    for link in html.matches(of: /href="#([^"]+)"/) {
        #expect(ids.contains(String(link.1)), "a link to #\(link.1), which the page does not have")
    }
}

@Suite("spoor report")
struct ReportTests {
    @Test("TraceBench: every anomaly spoor flows detect finds is in the page, linked to its picture; the page is self-contained")
    func traceBenchReport() throws {
        let data = traceBench()
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let normal = try FileManager.default.contentsOfDirectory(atPath: data).filter { $0.hasPrefix("NM_") }.sorted()
        let failed = "AN_Proc_killDN_w_50FDN_30C_1to19B_0to600INT_15RT_5WT"
        let learn = try runCLI(["flows", "learn", "-o", directory + "/model.json"] + normal.flatMap { ["--tracebench", data + "/" + $0] })
        #expect(learn.status == 0, "\(learn.standardError)")
        let detect = try runCLI(["flows", "detect", "--model", directory + "/model.json", "--tracebench", data + "/" + failed])
        #expect(detect.status == 0, "\(detect.standardError)")
        let lines = try detect.objects()
        let anomalies = lines.compactMap { $0["trace"] as? String }
        #expect(anomalies.count > 10)
        let flows = try learn.objects().compactMap { $0["flow"] as? String }

        let report = try runCLI([
            "report", "--model", directory + "/model.json", "--tracebench", data + "/" + failed,
            "--max-pictures", "5", "-o", directory + "/report.html", "--title", "kill <DN>",
        ])
        #expect(report.status == 0, "\(report.standardError)")
        let html = try String(contentsOfFile: directory + "/report.html", encoding: .utf8)
        #expect(html.hasPrefix("<!DOCTYPE html>") && html.hasSuffix("</html>\n"))
        #expect(html.contains("<title>kill &lt;DN&gt;</title>"), "the title is escaped")
        for trace in anomalies {
            #expect(html.contains("<code>\(trace)</code>"), "anomaly \(trace) is listed")
        }
        let pictured = html.matches(of: /<div class="anomaly" id="trace-([0-9a-f]{16})">/).map { String($0.1) }
        #expect(pictured == Array(anomalies.prefix(5)), "the first five anomalies have pictures, in order")
        for flow in flows {
            #expect(html.contains("<div class=\"flow\" id=\"flow-\(flow)\">"), "flow \(flow) has its section")
        }
        #expect(html.components(separatedBy: "<svg").count - 1 >= 2 * flows.count + 5, "a histogram and a picture per flow, a picture per pictured anomaly")
        let summary = try #require(lines.last?["summary"] as? [String: Any])
        #expect(html.contains("<tr><th>structural anomalies</th><td class=\"n\">\(summary["structural"] as? Int ?? -1)</td></tr>"))
        expectSelfContained(html)
    }

    @Test("a Spoor log: operator runtimes from the log, each report once")
    func spoorLogReport() throws {
        let root = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        // Two entries each read, parsed and summed into one fold: sum is in both traces but one report.
        try writeRun(
            root: root, name: "20260101T000000Z-11-00000001",
            identity: RunIdentity(runID: 1, pid: 11, realtimeNanos: 1, monotonicNanos: 1),
            operators: [
                OperatorRecord(id: 1, name: "read", callSite: "p.c:1"), OperatorRecord(id: 2, name: "parse", callSite: "p.c:2"),
                OperatorRecord(id: 3, name: "sum", callSite: "p.c:3"),
            ],
            reports: [
                report(.entry, id: 0x10, op: 1, end: 100), report(.entry, id: 0x11, op: 1, end: 110),
                report(.checkpoint, id: 0x20, parents: [0x10], op: 2, start: 120, end: 150),
                report(.checkpoint, id: 0x21, parents: [0x11], op: 2, start: 130, end: 190),
                report(.checkpoint, id: 0x30, parents: [0x20, 0x21], op: 3, start: 200, end: 1200),
                report(.poke, id: 0x30, op: 3, end: 1300, event: 10),
            ])
        let result = try runCLI(["report", "--spoor", root, "--warm-up", "1", "-o", root + "/report.html"])
        #expect(result.status == 0, "\(result.standardError)")
        let html = try String(contentsOfFile: root + "/report.html", encoding: .utf8)
        let rows = html.matches(of: /<tr><td>([^<]+)<\/td><td class="n">(\d+)<\/td><td class="n">([^<]*)<\/td>/).map {
            (String($0.1), Int($0.2) ?? -1, String($0.3))
        }
        #expect(rows.map(\.0) == ["sum (p.c:3)", "parse (p.c:2)", "read (p.c:1)"], "by total runtime")
        #expect(rows.map(\.1) == [1, 2, 2], "the fold in both traces is one report")
        #expect(rows.map(\.2) == ["1.00 µs", "30 ns", ""], "p50 of the UDF runtimes; entries have none")
        #expect(html.contains("<tr><th>traces assembled</th><td class=\"n\">2</td></tr>"))
        expectSelfContained(html)
    }
}
