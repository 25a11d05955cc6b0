import CSpoor
import Foundation
import SpoorLog
@testable import SpoorRuntime
import SpoorSupport
import Testing

/// `spoor collect`'s collector (HostCollector) against real producer processes: the consumer
/// lease handed over and back, collectors killed and restarted, producers killed, and the
/// segments it must refuse. Producers are SpoorTestChild processes that write sequence numbers
/// 1, 2, 3, ... under the block policy (no drops), and publish in a shared progress file the last
/// one the library accepted; collectors are `SpoorTestChild --collect PREFIX` processes.
@Suite("Collector process", .serialized)
struct CollectorProcessTests {
    /// A child process and the lines it printed so far.
    final class Child {
        let process = Process()
        let output = Pipe()
        private var buffered = ""

        init(_ arguments: [String]) throws {
            let executable = URL(fileURLWithPath: try #require(Bundle.main.executableURL?.path ?? CommandLine.arguments.first))
            process.executableURL = try RuntimeTests().childExecutable(near: executable)
            process.arguments = arguments
            process.standardOutput = output
            try process.run()
        }

        /// Waits until the child printed `text` (true), or closed its output, or `still()` turned
        /// false (false).
        func waitForLine(containing text: String, while still: () -> Bool = { true }) -> Bool {
            let fd = output.fileHandleForReading.fileDescriptor
            while true {
                if let range = buffered.range(of: text) {
                    buffered = String(buffered[range.upperBound...])
                    return true
                }
                var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                if poll(&poller, 1, 10) == 1 {
                    var chunk = [UInt8](repeating: 0, count: 4096)
                    let got = read(fd, &chunk, chunk.count)
                    if got <= 0 { return false }
                    buffered += String(decoding: chunk[0..<got], as: UTF8.self)
                } else if !still() {
                    return false
                }
            }
        }

        /// Everything it printed (after it exited).
        func rest() -> String {
            buffered + String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        }

        func signal(_ number: Int32) { kill(process.processIdentifier, number) }

        func wait() -> Int32 {
            process.waitUntilExit()
            return process.terminationStatus
        }
    }

    /// A producer's shared progress word.
    final class Progress {
        let path: String
        let word: UnsafeMutablePointer<UInt64>

        init(directory: String) {
            path = directory + "/progress"
            let fd = open(path, O_RDWR | O_CREAT, 0o600)
            _ = ftruncate(fd, 4096)
            let mapped = mmap(nil, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
            close(fd)
            word = mapped!.assumingMemoryBound(to: UInt64.self)
        }

        var value: UInt64 { spoorint_load_acquire(word) }

        /// Waits (1 ms steps) until the producer accepted `target` reports or exited.
        func wait(for target: UInt64, while producer: Child) {
            while value < target && producer.process.isRunning { usleep(1_000) }
        }
    }

    let prefix = "spoor-collect-test-\(getpid())-"

    /// Reads the run's log: the sequence numbers (each report's parent), its issues, the close record.
    func readRun(_ root: String) throws -> (sequence: [UInt64], issues: [LogIssue], close: CloseStatistics?) {
        let run = try #require(try LogReader.runDirectories(at: root).first)
        let log = try readReports(run)
        return (log.reports.compactMap(\.parents.first), log.damage, log.close)
    }

    @Test("collectors killed with SIGKILL and restarted leave every report in the log exactly once")
    func killedCollectors() throws {
        let root = temporaryDirectory()
        let progress = Progress(directory: root)
        let total: UInt64 = 1_500_000
        let producer = try Child(["/\(prefix)kill", root, progress.path, "\(total)"])
        var attached = 0
        for _ in 1...4 {
            let collector = try Child(["--collect", prefix + "kill"])
            if collector.waitForLine(containing: "attached", while: { producer.process.isRunning }) { attached += 1 }
            progress.wait(for: progress.value + 50_000, while: producer)
            collector.signal(SIGKILL)
            _ = collector.wait()
        }
        // The last one stays until the producer is done; the producer's shutdown takes the rings back.
        let last = try Child(["--collect", prefix + "kill"])
        #expect(producer.wait() == 0)
        last.signal(SIGTERM)
        #expect(last.wait() == 0)
        #expect(attached == 4, "every collector got the rings while the producer ran")
        let log = try readRun(root)
        #expect(log.issues.isEmpty, "no duplicate, damaged or unsealed segment: \(log.issues)")
        #expect(log.sequence.count == Int(total))
        #expect(Set(log.sequence) == Set(1...total))
        #expect(log.close?.drained == total, "the adopted batches are counted once in drained")
        #expect(log.close?.committed == total)
    }

    @Test("a producer killed with SIGKILL while a collector holds its rings loses nothing it committed")
    func killedProducer() throws {
        let root = temporaryDirectory()
        let progress = Progress(directory: root)
        let collector = try Child(["--collect", prefix + "dead"])
        let producer = try Child(["/\(prefix)dead", root, progress.path])
        #expect(collector.waitForLine(containing: "attached", while: { producer.process.isRunning }))
        progress.wait(for: 200_000, while: producer)
        producer.signal(SIGKILL)
        _ = producer.wait()
        let accepted = progress.value
        #expect(collector.waitForLine(containing: "is dead"))
        collector.signal(SIGTERM)
        #expect(collector.wait() == 0)
        let log = try readRun(root)
        #expect(log.issues.isEmpty, "\(log.issues)")
        // Every accepted report is committed (block policy); the one being written when the
        // kill came may be committed or not.
        #expect(log.sequence.count == Int(accepted) || log.sequence.count == Int(accepted) + 1)
        #expect(Set(log.sequence) == Set(1...UInt64(log.sequence.count)))
        #expect(access("/dev/shm/\(prefix)dead", F_OK) != 0, "the dead producer's segment was finished and unlinked")
    }

    @Test("the rings go back and forth between the owner and collectors that come and go, two at a time")
    func handoffUnderContention() throws {
        let root = temporaryDirectory()
        let progress = Progress(directory: root)
        let total: UInt64 = 1_500_000
        let producer = try Child(["/\(prefix)hand", root, progress.path, "\(total)"])
        var handedBack = 0
        for _ in 1...3 {
            // Two collectors race for the rings: one gets them, the other waits its turn.
            let first = try Child(["--collect", prefix + "hand"])
            let second = try Child(["--collect", prefix + "hand"])
            progress.wait(for: progress.value + 50_000, while: producer)
            first.signal(SIGTERM)
            #expect(first.wait() == 0)
            progress.wait(for: progress.value + 50_000, while: producer)
            second.signal(SIGTERM)
            #expect(second.wait() == 0)
            let lines = first.rest() + second.rest()
            handedBack += lines.components(separatedBy: "handed").count - 1
            #expect(lines.components(separatedBy: "attached").count - 1 == lines.components(separatedBy: "handed").count - 1,
                    "each collector that got the rings handed them back: \(lines)")
        }
        #expect(producer.wait() == 0)
        #expect(handedBack >= 3)
        let log = try readRun(root)
        #expect(log.issues.isEmpty, "\(log.issues)")
        #expect(log.sequence.count == Int(total))
        #expect(Set(log.sequence) == Set(1...total))
        #expect(log.close?.drained == total)
    }

    @Test("a segment with an unknown layout version, or another user's, is refused")
    func refusals() throws {
        var image = SegmentImage()
        image.put32(99, at: 8)
        let bad = "/\(prefix)badversion"
        try image.create(bad)
        defer { _ = shm_unlink(bad) }
        var other: String?
        if geteuid() == 0 {
            let name = "/spoor.\(prefix)other"
            try SegmentImage().create(name)
            _ = chown("/dev/shm" + name, 65_534, 65_534)
            other = name
        }
        defer { if let other { _ = shm_unlink(other) } }
        for (name, expected) in [(bad, "layout version"), (other, "owned by uid 65534")] {
            guard let name else { continue }
            var options = HostCollector.Options()
            options.namePrefix = String(name.dropFirst())
            let collector = HostCollector(options: options)
            collector.step()
            let events = collector.takeEvents().map(\.description)
            #expect(events.count == 1 && events[0].contains("refused") && events[0].contains(expected), "\(events)")
            collector.step()
            #expect(collector.takeEvents().isEmpty, "a refusal is reported once")
            #expect(collector.currentTotals().attached == 0)
        }
    }
}
