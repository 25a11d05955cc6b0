import CSpoor
import Foundation
import SpoorLog
import SpoorRuntime
import Testing

struct ChildNotFound: Error { var path: String }

/// Everything that initialises the process-wide library runs serially.
@Suite("Runtime", .serialized)
struct RuntimeTests {
    @Test("4 threads x 1M reports: drained + dropped == written, no id repeats")
    func stress() throws {
        let perThread = Int(ProcessInfo.processInfo.environment["SPOOR_STRESS_REPORTS"] ?? "") ?? 1_000_000
        let threads = 4
        let directory = temporaryDirectory()
        #expect(initialize(logDirectory: directory) { config in
            config.ring_slots = 1 << 14
            config.max_threads = 8
            config.flush_interval_ms = 1
            config.sampling = sampling(SPOOR_SAMPLE_ALL)
        } == SPOOR_OK)
        let op = registerOperator("stress")
        let ids = SharedBuffer<UInt64>(count: threads * perThread, initial: 0)
        let droppedByThread = SharedBuffer<Int>(count: threads, initial: 0)
        onThreads(threads) { index in
            var dropped = 0
            for i in 0..<perThread {
                var out: UInt64 = 0
                let status = spoor_checkpoint1(UInt64(i + 1), op, UInt64(index), 1, 2, &out)
                if status == SPOOR_DROPPED { dropped += 1 } else { precondition(status == SPOOR_OK) }
                ids.pointer[index * perThread + i] = out
            }
            droppedByThread.pointer[index] = dropped
        }
        #expect(spoor_flush(60_000) == SPOOR_OK)
        var stats = spoor_stats()
        #expect(spoor_get_stats(&stats) == SPOOR_OK)
        let droppedByCallers = droppedByThread.pointer.reduce(0, +)
        #expect(stats.written == UInt64(threads * perThread))
        #expect(stats.drained + stats.dropped == stats.written)
        #expect(stats.committed == stats.drained)
        #expect(stats.dropped == UInt64(droppedByCallers))
        let run = runDirectory()
        #expect(spoor_shutdown() == SPOOR_OK)

        let minted = ids.pointer.sorted()
        #expect(minted.first != 0, "every call mints an id, reported or dropped")
        #expect(zip(minted, minted.dropFirst()).allSatisfy { $0 < $1 }, "no id repeats across threads")
        let log = try readReports(run)
        #expect(log.damage.isEmpty)
        #expect(UInt64(log.reports.count) == stats.drained)
        let logged = log.reports.map(\.id).sorted()
        #expect(zip(logged, logged.dropFirst()).allSatisfy { $0 < $1 }, "no id repeats in the log")
        let mintedSet = Set(minted)
        #expect(logged.allSatisfy { mintedSet.contains($0) })
        #expect(log.close?.drained == stats.drained && log.close?.dropped == stats.dropped)
    }

    @Test("a SIGKILLed process's committed reports are all recovered by another process, none torn or duplicated")
    func crashRecovery() throws {
        let directory = temporaryDirectory()
        let shm = "/spoor-crash-\(getpid())"
        let progressPath = directory + "/progress"
        let progressFD = open(progressPath, O_RDWR | O_CREAT, 0o600)
        #expect(ftruncate(progressFD, 4096) == 0)
        let map = mmap(nil, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, progressFD, 0)
        let progress = try #require(map).assumingMemoryBound(to: UInt64.self)

        let child = Process()
        let executable = URL(fileURLWithPath: try #require(Bundle.main.executableURL?.path ?? CommandLine.arguments.first))
        child.executableURL = try childExecutable(near: executable)
        child.arguments = [shm, directory, progressPath]
        try child.run()
        // Wait (bounded) until the child has committed enough to wrap its 1024-slot ring many times.
        let deadline = Date().addingTimeInterval(120)
        while spoorint_load_acquire(progress) < 300_000 && child.isRunning && Date() < deadline { usleep(1_000) }
        #expect(child.isRunning, "the child exits only if the library failed")
        #expect(throws: SegmentRecovery.Failure.self, "recovering a live process's segment is refused") {
            try SegmentRecovery.recover(name: shm, outputDirectory: nil, force: false, keepSegment: true)
        }
        kill(child.processIdentifier, SIGKILL)
        child.waitUntilExit()
        let committed = spoorint_load_acquire(progress)
        #expect(committed >= 300_000)

        let summary = try SegmentRecovery.recover(name: shm, outputDirectory: nil, force: false, keepSegment: false)
        let runs = try LogReader.runDirectories(at: directory)
        #expect(runs.count == 1 && runs.first == summary.runDirectory)
        let log = try readReports(summary.runDirectory)
        // SIGKILL can land inside the collector's writev and leave one torn record at the end of
        // the dead process's last segment, which it never sealed: recovery cuts the torn tail,
        // seals the segment naming the one it writes, and writes the tail's reports again. The
        // recovered run reads whole: no damage, nothing unsealed, nothing incomplete.
        #expect(log.damage.isEmpty, "\(log.damage)")
        var sequences: [UInt64] = []
        sequences.reserveCapacity(log.reports.count)
        var malformed = 0
        for report in log.reports {
            let seq = report.parents.first ?? 0
            var expectedValue: [UInt8] = []
            withUnsafeBytes(of: (seq, ~seq)) { expectedValue = Array($0) }
            let whole = report.kind == .checkpoint && report.parents.count == 1 && report.keyHash == seq &* 0x9e37_79b9_7f4a_7c15
                && report.startNanos == seq && report.endNanos == seq &+ 7
                && report.attachment == [Attribute(key: Array("seq".utf8), value: expectedValue)]
            if !whole { malformed += 1 }
            sequences.append(seq)
        }
        #expect(malformed == 0, "no torn report is delivered")
        sequences.sort()
        #expect(zip(sequences, sequences.dropFirst()).allSatisfy { $0 < $1 }, "no report is delivered twice")
        #expect(sequences.first == 1)
        // Every report committed before the kill is there; at most one more (committed, not yet recorded).
        #expect(UInt64(sequences.count) >= committed && UInt64(sequences.count) <= committed + 1)
        #expect(sequences.last == UInt64(sequences.count))
        #expect(UInt64(summary.reports) + summary.drainedByCollector >= committed)
        #expect(shm.withCString { shm_open($0, O_RDONLY, 0) } == -1, "the recovered segment is unlinked")
        munmap(map, 4096)
        close(progressFD)
    }

    @Test("a process that returns from main without spoor_shutdown loses no accepted report")
    func normalExit() throws {
        let directory = temporaryDirectory()
        let progressPath = directory + "/progress"
        let progressFD = open(progressPath, O_RDWR | O_CREAT, 0o600)
        #expect(ftruncate(progressFD, 4096) == 0)
        close(progressFD)
        let child = Process()
        let executable = URL(fileURLWithPath: try #require(Bundle.main.executableURL?.path ?? CommandLine.arguments.first))
        child.executableURL = try childExecutable(near: executable)
        child.arguments = ["/spoor-exit-\(getpid())", directory, progressPath, "50000"]
        try child.run()
        child.waitUntilExit()
        #expect(child.terminationStatus == 0)
        let runs = try LogReader.runDirectories(at: directory)
        let run = try #require(runs.first)
        let log = try readReports(run)
        #expect(log.damage.isEmpty)
        #expect(log.reports.count == 50_000)
        #expect(Set(log.reports.compactMap(\.parents.first)) == Set(1...50_000))
        #expect(log.close?.drained == 50_000, "the exit handler shut the library down cleanly")
    }

    func childExecutable(near testBinary: URL) throws -> URL {
        // The test bundle lives in the build products directory next to the executables.
        var directory = testBinary.deletingLastPathComponent()
        for _ in 0..<4 {
            let candidate = directory.appendingPathComponent("SpoorTestChild")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            directory = directory.deletingLastPathComponent()
        }
        throw ChildNotFound(path: testBinary.path)
    }

    @Test("every-N samples exactly every N-th entry of a thread")
    func everyNth() {
        #expect(initialize(logDirectory: temporaryDirectory()) { $0.sink = SPOOR_SINK_NONE.rawValue; $0.sampling = sampling(SPOOR_SAMPLE_EVERY_N, everyN: 10) } == SPOOR_OK)
        let op = registerOperator("source")
        var sampled = 0
        for key in 0..<1_000 {
            var id: UInt64 = 0
            #expect(spoor_entry(op, UInt64(key), &id) == SPOOR_OK)
            if id != 0 { sampled += 1 }
        }
        #expect(sampled == 100)
        var stats = spoor_stats()
        spoor_get_thread_stats(&stats)
        #expect(stats.sampled == 100)
        #expect(spoor_shutdown() == SPOOR_OK)
    }

    @Test("probability sampling is Bernoulli(p) within five standard deviations")
    func probability() {
        #expect(initialize(logDirectory: temporaryDirectory()) { $0.sink = SPOOR_SINK_NONE.rawValue; $0.seed = 7; $0.sampling = sampling(SPOOR_SAMPLE_PROBABILITY, probability: 0.1) } == SPOOR_OK)
        let op = registerOperator("source")
        let trials = 200_000
        var sampled = 0
        for key in 0..<trials {
            var id: UInt64 = 0
            _ = spoor_entry(op, UInt64(key), &id)
            if id != 0 { sampled += 1 }
            if key % 16_384 == 0 { _ = spoor_flush(0) }
        }
        let sigma = (Double(trials) * 0.1 * 0.9).squareRoot()
        #expect(abs(Double(sampled) - Double(trials) * 0.1) < 5 * sigma)
        #expect(spoor_shutdown() == SPOOR_OK)
    }

    @Test("key-hash sampling traces exactly the keys spoor_key_sampled names, in any process")
    func keyHash() {
        #expect(initialize(logDirectory: temporaryDirectory()) { $0.sink = SPOOR_SINK_NONE.rawValue; $0.sampling = sampling(SPOOR_SAMPLE_KEY_HASH, probability: 0.25) } == SPOOR_OK)
        let op = registerOperator("source")
        var agreements = 0
        var sampled = 0
        for key in 0..<10_000 {
            var word = UInt64(key)
            let hash = spoor_hash_bytes(&word, 8)
            var id: UInt64 = 0
            _ = spoor_entry(op, hash, &id)
            if (id != 0) == (spoor_key_sampled(hash, 0.25) == 1) { agreements += 1 }
            if id != 0 { sampled += 1 }
            if key % 4_096 == 0 { _ = spoor_flush(0) }
        }
        #expect(agreements == 10_000)
        #expect(sampled > 2_000 && sampled < 3_000)
        #expect(spoor_shutdown() == SPOOR_OK)
    }

    @Test("rate limiting admits at most K entries per second window")
    func rateLimit() {
        #expect(initialize(logDirectory: temporaryDirectory()) { $0.sink = SPOOR_SINK_NONE.rawValue; $0.sampling = sampling(SPOOR_SAMPLE_RATE, perSecond: 500) } == SPOOR_OK)
        let op = registerOperator("source")
        let firstSecond = spoor_now() / 1_000_000_000
        var sampled = 0
        for key in 0..<3_000_000 {
            var id: UInt64 = 0
            _ = spoor_entry(op, UInt64(key), &id)
            if id != 0 { sampled += 1 }
        }
        let lastSecond = spoor_now() / 1_000_000_000
        #expect(sampled > 0)
        #expect(sampled <= 500 * Int(lastSecond - firstSecond + 1))
        #expect(spoor_shutdown() == SPOOR_OK)
    }

    @Test("sampling switches at run time, and off traces nothing")
    func switching() {
        #expect(initialize(logDirectory: temporaryDirectory()) { $0.sink = SPOOR_SINK_NONE.rawValue; $0.sampling = sampling(SPOOR_SAMPLE_OFF) } == SPOOR_OK)
        let op = registerOperator("source")
        var id: UInt64 = 0
        for key in 0..<10_000 {
            _ = spoor_entry(op, UInt64(key), &id)
            #expect(id == 0)
        }
        var all = sampling(SPOOR_SAMPLE_ALL)
        #expect(spoor_set_sampling(&all) == SPOOR_OK)
        _ = spoor_entry(op, 1, &id)
        #expect(id != 0)
        var current = spoor_sampling()
        #expect(spoor_get_sampling(&current) == SPOOR_OK && current.mode == SPOOR_SAMPLE_ALL.rawValue)
        #expect(spoor_shutdown() == SPOOR_OK)
        #expect(spoor_entry(op, 1, &id) == SPOOR_E_NOT_INITIALIZED)
    }

    @Test("a thread that exits hands its ring back; a thread beyond the private rings writes into a shared ring")
    func ringReuse() {
        #expect(initialize(logDirectory: temporaryDirectory()) { $0.max_threads = 2; $0.sampling = sampling(SPOOR_SAMPLE_ALL) } == SPOOR_OK)
        let op = registerOperator("map")
        for _ in 0..<6 {
            onThreads(1) { _ in
                var out: UInt64 = 0
                for i in 0..<100 { precondition(spoor_checkpoint1(UInt64(i + 1), op, 0, 0, 1, &out) == SPOOR_OK) }
            }
            #expect(spoor_flush(0) == SPOOR_OK)
        }
        var stats = spoor_stats()
        spoor_get_stats(&stats)
        #expect(stats.committed == 600 && stats.dropped == 0, "six short-lived threads share two rings")
        // Hold both private rings, then a third thread finds none free: it is traced all the same,
        // through a shared ring, and counts as a live thread.
        let gate = SharedBuffer<UInt64>(count: 1, initial: 0)
        let results = SharedBuffer<Int32>(count: 3, initial: 0)
        @Sendable func ownedRings() -> UInt64 {
            var snapshot = spoor_stats()
            _ = spoor_get_stats(&snapshot)
            return snapshot.threads
        }
        onThreads(3) { index in
            var out: UInt64 = 0
            guard let gateWord = gate.pointer.baseAddress else { return }
            if index < 2 {
                results.pointer[index] = spoor_checkpoint1(1, op, 0, 0, 1, &out)
                while spoorint_load_acquire(gateWord) == 0 { sched_yield() }
            } else {
                while ownedRings() < 2 { sched_yield() }
                results.pointer[index] = spoor_checkpoint1(1, op, 0, 0, 1, &out)
                spoorint_store_release(gateWord, 1)
            }
        }
        #expect(Array(results.pointer) == [SPOOR_OK, SPOOR_OK, SPOOR_OK])
        #expect(spoor_flush(0) == SPOOR_OK)
        spoor_get_stats(&stats)
        #expect(stats.dropped == 0 && stats.committed == 603 && stats.drained == 603)
        #expect(spoor_shutdown() == SPOOR_OK)
    }
}
