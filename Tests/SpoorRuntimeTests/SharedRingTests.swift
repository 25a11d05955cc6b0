import CSpoor
import Foundation
import SpoorLog
import SpoorRuntime
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// What one tracing thread saw.
struct ThreadAccount {
    var tid: UInt32 = 0
    var written = 0
    var dropped = 0
    var statsCommitted: UInt64 = 0
    var statsDropped: UInt64 = 0
}

extension RuntimeTests {
    /// Any number of threads: 512 at once against 8 private rings. Every thread is traced (504
    /// of them on the shared rings), and the accounting is exact per thread: what each wrote is
    /// what it saw committed plus dropped, its spoor_get_thread_stats says the same, and the log
    /// holds exactly its committed reports and, in its loss records, exactly its drops. Then the 512 exit, and new threads take the private
    /// rings they handed back.
    @Test("512 threads trace at once with exact per-thread accounting; exited threads' rings are reused")
    func manyThreads() throws {
        let threads = 512
        let perThread = Int(ProcessInfo.processInfo.environment["SPOOR_MANY_THREADS_REPORTS"] ?? "") ?? 2_000
        let privateRings = 8
        let directory = temporaryDirectory()
        #expect(initialize(logDirectory: directory) { config in
            config.ring_slots = 1 << 14
            config.max_threads = UInt32(privateRings)
            config.flush_interval_ms = 1
            config.sampling = sampling(SPOOR_SAMPLE_ALL)
        } == SPOOR_OK)
        let op = registerOperator("many")
        let accounts = SharedBuffer<ThreadAccount>(count: threads, initial: ThreadAccount())
        let started = UnsafeMutablePointer<pthread_barrier_t>.allocate(capacity: 1)
        let resume = UnsafeMutablePointer<pthread_barrier_t>.allocate(capacity: 1)
        defer { started.deallocate(); resume.deallocate() }
        pthread_barrier_init(started, nil, UInt32(threads + 1))
        pthread_barrier_init(resume, nil, UInt32(threads + 1))
        let barriers = (UInt(bitPattern: started), UInt(bitPattern: resume))
        let liveThreads = SharedBuffer<UInt64>(count: 1, initial: 0)
        @Sendable func wait(_ barrier: UInt) {
            if let pointer = UnsafeMutablePointer<pthread_barrier_t>(bitPattern: barrier) { pthread_barrier_wait(pointer) }
        }
        // Thread `threads` is the coordinator: once every tracing thread has written its first
        // report (and so holds a ring), it reads how many rings are held, then lets them go on.
        onThreads(threads + 1) { index in
            if index == threads {
                wait(barriers.0)
                var stats = spoor_stats()
                _ = spoor_get_stats(&stats)
                liveThreads.pointer[0] = stats.threads
                wait(barriers.1)
                return
            }
            var account = ThreadAccount()
            account.tid = spoorint_gettid()
            for i in 0..<perThread {
                var out: UInt64 = 0
                let status = spoor_checkpoint1(UInt64(i + 1), op, UInt64(index), 1, 2, &out)
                account.written += 1
                if status == SPOOR_DROPPED { account.dropped += 1 } else { precondition(status == SPOOR_OK) }
                if i == 0 {
                    wait(barriers.0)
                    wait(barriers.1)
                }
            }
            var own = spoor_stats()
            _ = spoor_get_thread_stats(&own)
            account.statsCommitted = own.committed
            account.statsDropped = own.dropped
            accounts.pointer[index] = account
        }
        pthread_barrier_destroy(started)
        pthread_barrier_destroy(resume)
        #expect(liveThreads.pointer[0] == UInt64(threads), "every live thread holds a ring, private or shared")
        #expect(spoor_flush(60_000) == SPOOR_OK)
        var stats = spoor_stats()
        #expect(spoor_get_stats(&stats) == SPOOR_OK)
        #expect(stats.written == UInt64(threads * perThread))
        #expect(stats.drained + stats.dropped == stats.written)
        #expect(stats.committed == stats.drained)

        // New threads after the 512 exited: the private rings are free again.
        onThreads(privateRings) { index in
            var out: UInt64 = 0
            precondition(spoor_checkpoint1(7, op, UInt64(100_000 + index), 1, 2, &out) == SPOOR_OK)
        }
        let run = runDirectory()
        #expect(spoor_shutdown() == SPOOR_OK)

        let log = try readReports(run)
        #expect(log.damage.isEmpty)
        var perTID: [UInt32: Int] = [:]
        var ringsOfLate: Set<UInt32> = []
        var lateReports = 0
        for report in log.reports {
            if report.keyHash >= 100_000 {
                ringsOfLate.insert(report.ring)
                lateReports += 1
                continue
            }
            perTID[report.thread, default: 0] += 1
        }
        let lost = try sharedRingLosses(in: run, firstShared: 0).before
        var sharedUsers = 0
        for account in accounts.pointer {
            #expect(lost[account.tid, default: 0] == UInt64(account.dropped),
                    "thread \(account.tid): the log's loss records say \(lost[account.tid, default: 0]), it dropped \(account.dropped)")
            let committed = account.written - account.dropped
            #expect(account.written == perThread)
            #expect(account.statsCommitted == UInt64(committed) && account.statsDropped == UInt64(account.dropped),
                    "thread \(account.tid): stats \(account.statsCommitted)+\(account.statsDropped), saw \(committed)+\(account.dropped)")
            #expect(perTID[account.tid, default: 0] == committed, "thread \(account.tid): log has \(perTID[account.tid, default: 0]), committed \(committed)")
            if account.dropped > 0 { sharedUsers += 1 }
        }
        // (One late thread may take the ring another late thread just handed back.)
        #expect(lateReports == privateRings)
        #expect(!ringsOfLate.isEmpty && ringsOfLate.allSatisfy { $0 < UInt32(privateRings) },
                "late threads took private rings: \(ringsOfLate.sorted())")
        let totalDropped = accounts.pointer.reduce(0) { $0 + $1.dropped }
        print("512 threads x \(perThread): \(stats.drained) drained, \(totalDropped) dropped (\(sharedUsers) threads lost some)")
    }
}

/// The ring-full loss records of a run on shared rings, by thread (0: threads the sharer table
/// had no room for), split at `split` (CLOCK_MONOTONIC ns) into those seen before and after.
func sharedRingLosses(in directory: String, firstShared: UInt32, split: UInt64 = .max) throws -> (before: [UInt32: UInt64], after: [UInt32: UInt64]) {
    var before: [UInt32: UInt64] = [:]
    var after: [UInt32: UInt64] = [:]
    _ = try LogReader(directory: directory).read { entry in
        guard case .loss(let ring, let loss) = entry, loss.reason == .ringFull, ring >= firstShared, ring != LossRecord.noRing else { return }
        if loss.monotonicNanos < split { before[loss.thread, default: 0] += loss.reports } else { after[loss.thread, default: 0] += loss.reports }
    }
    return (before, after)
}

/// The sharer table's high-water mark in segment `name` (entries ever claimed).
func sharerCount(segment name: String) -> UInt64? {
    let fd = shm_open(name, O_RDONLY, 0)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var header = spoorint_shm_header()
    guard pread(fd, &header, MemoryLayout<spoorint_shm_header>.size, 0) == MemoryLayout<spoorint_shm_header>.size else { return nil }
    return header.sharer_count
}

extension RuntimeTests {
    /// Threads on shared rings each lose reports to a planted overload (64-slot rings drained
    /// only on spoor_flush); the log's ring-full loss records name each thread with exactly
    /// the drops it saw. Threads that exit hand their sharer entry back once their drops are
    /// logged, so three threads one after another use one entry.
    @Test("loss records on shared rings name each thread with its own drops; exited threads' entries are reused")
    func sharedRingLossesPerThread() throws {
        let directory = temporaryDirectory()
        let shm = "/spoor-test-sharers-\(getpid())"
        #expect(initialize(logDirectory: directory, shmName: shm) { config in
            config.ring_slots = 64
            config.max_threads = 1
            config.flush_interval_ms = 60_000
            config.sampling = sampling(SPOOR_SAMPLE_ALL)
        } == SPOOR_OK)
        let op = registerOperator("sharers")
        var out: UInt64 = 0
        #expect(spoor_checkpoint1(1, op, 0, 1, 2, &out) == SPOOR_OK, "this thread holds the one private ring")
        let accounts = SharedBuffer<ThreadAccount>(count: 3, initial: ThreadAccount())
        for round in 0..<3 {
            onThreads(1) { _ in
                var account = ThreadAccount()
                account.tid = spoorint_gettid()
                for i in 0..<100 {
                    var id: UInt64 = 0
                    let status = spoor_checkpoint1(UInt64(i + 1), op, UInt64(round), 1, 2, &id)
                    account.written += 1
                    if status == SPOOR_DROPPED { account.dropped += 1 } else { precondition(status == SPOOR_OK) }
                }
                var own = spoor_stats()
                _ = spoor_get_thread_stats(&own)
                account.statsDropped = own.dropped
                accounts.pointer[round] = account
            }
            #expect(spoor_flush(0) == SPOOR_OK)
        }
        #expect(sharerCount(segment: shm) == 1, "each thread took the entry the one before it handed back")
        let run = runDirectory()
        #expect(spoor_shutdown() == SPOOR_OK)
        let log = try sharedRingLosses(in: run, firstShared: 1)
        for account in accounts.pointer {
            #expect(account.dropped == 100 - 64, "a 64-slot ring takes 64 reports, then drops")
            #expect(account.statsDropped == UInt64(account.dropped))
            #expect(log.before[account.tid] == UInt64(account.dropped), "thread \(account.tid): log \(log.before)")
        }
        #expect(log.before[0] == nil, "no loss without a thread: \(log.before)")
    }

    /// More threads on shared rings at once than the sharer table holds: the first 4096 are
    /// named with their drops, the rest are counted with no thread, and the sum is exact. Then
    /// a second crowd of 3000 after a first has exited: every one of them is named again (the
    /// first crowd's entries were handed back).
    @Test("a full sharer table counts the rest without a thread; entries of exited threads serve new ones",
          .disabled(if: underShadowMemorySanitizer, "thousands of threads under a sanitizer's shadow memory"))
    func sharerTableOverflowAndReuse() throws {
        let capacity = Int(SPOORINT_SHARER_CAPACITY)
        func crowd(_ threads: Int, op: UInt32) -> [ThreadAccount] {
            let accounts = SharedBuffer<ThreadAccount>(count: threads, initial: ThreadAccount())
            let barrier = UnsafeMutablePointer<pthread_barrier_t>.allocate(capacity: 1)
            defer { barrier.deallocate() }
            pthread_barrier_init(barrier, nil, UInt32(threads))
            let address = UInt(bitPattern: barrier)
            onThreads(threads) { index in
                var account = ThreadAccount()
                account.tid = spoorint_gettid()
                for i in 0..<40 {
                    var id: UInt64 = 0
                    let status = spoor_checkpoint1(UInt64(i + 1), op, UInt64(index), 1, 2, &id)
                    account.written += 1
                    if status == SPOOR_DROPPED { account.dropped += 1 } else { precondition(status == SPOOR_OK) }
                    // Every thread holds its ring (and entry) before any exits.
                    if i == 0, let pointer = UnsafeMutablePointer<pthread_barrier_t>(bitPattern: address) { pthread_barrier_wait(pointer) }
                }
                accounts.pointer[index] = account
            }
            pthread_barrier_destroy(barrier)
            return Array(accounts.pointer)
        }

        // One crowd larger than the table.
        do {
            let directory = temporaryDirectory()
            #expect(initialize(logDirectory: directory) { config in
                config.ring_slots = 64
                config.max_threads = 1
                config.flush_interval_ms = 60_000
                config.sampling = sampling(SPOOR_SAMPLE_ALL)
            } == SPOOR_OK)
            let op = registerOperator("overflow")
            var out: UInt64 = 0
            #expect(spoor_checkpoint1(1, op, 0, 1, 2, &out) == SPOOR_OK)
            let threads = capacity + 104
            let accounts = crowd(threads, op: op)
            #expect(spoor_flush(0) == SPOOR_OK)
            let run = runDirectory()
            #expect(spoor_shutdown() == SPOOR_OK)
            let log = try sharedRingLosses(in: run, firstShared: 1).before
            let dropped = accounts.reduce(0) { $0 + UInt64($1.dropped) }
            #expect(dropped > 0)
            #expect(log.values.reduce(0, +) == dropped, "named and unnamed losses add up to every drop")
            var named = 0
            var unnamedDrops: UInt64 = 0
            for account in accounts {
                if let logged = log[account.tid] {
                    #expect(logged == UInt64(account.dropped), "thread \(account.tid)")
                    named += 1
                } else {
                    unnamedDrops += UInt64(account.dropped)
                }
            }
            #expect(named <= capacity)
            #expect(log[0] == unnamedDrops, "the threads the table had no room for are counted without a thread")
            print("sharer table overflow: \(threads) threads, \(named) named, \(dropped) dropped, \(unnamedDrops) without a thread")
        }

        // Two crowds one after another, each within the table but together beyond it.
        let directory = temporaryDirectory()
        let shm = "/spoor-test-reuse-\(getpid())"
        #expect(initialize(logDirectory: directory, shmName: shm) { config in
            config.ring_slots = 64
            config.max_threads = 1
            config.flush_interval_ms = 60_000
            config.sampling = sampling(SPOOR_SAMPLE_ALL)
        } == SPOOR_OK)
        let op = registerOperator("reuse")
        var out: UInt64 = 0
        #expect(spoor_checkpoint1(1, op, 0, 1, 2, &out) == SPOOR_OK)
        let first = crowd(3_000, op: op)
        #expect(spoor_flush(0) == SPOOR_OK)
        let split = spoor_now()
        let second = crowd(3_000, op: op)
        #expect(spoor_flush(0) == SPOOR_OK)
        let claimed = sharerCount(segment: shm) ?? 0
        let run = runDirectory()
        #expect(spoor_shutdown() == SPOOR_OK)
        let log = try sharedRingLosses(in: run, firstShared: 1, split: split)
        #expect(claimed <= 3_000, "the second crowd reused the first one's entries (\(claimed) claimed)")
        for (accounts, logged) in [(first, log.before), (second, log.after)] {
            #expect(logged[0] == nil, "every thread was named")
            for account in accounts where account.dropped > 0 {
                #expect(logged[account.tid] == UInt64(account.dropped), "thread \(account.tid)")
            }
        }
    }
}
