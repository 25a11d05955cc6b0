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
    /// holds exactly its committed reports. Then the 512 exit, and new threads take the private
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
        var sharedUsers = 0
        for account in accounts.pointer {
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
