import CSpoor
import Foundation
import SpoorLog
@testable import SpoorRuntime
import SpoorSupport
import Testing

/// A segment file built byte by byte (docs/shm-layout.md), to recover crafted contents.
struct SegmentImage {
    var bytes: [UInt8]
    let ringCount: Int
    let ringSlots: Int
    let ringTableOffset: Int
    let ringDataOffset: Int
    let runID: UInt64
    let ownerPID: UInt32

    init(ringCount: Int = 2, ringSlots: Int = 64, runID: UInt64 = 0x1234_5678_9abc_def0, ownerPID: UInt32 = 0x7fff_fff0, runDirectory: String = "") {
        let (_, total) = SharedSegment.layoutSize(ringCount: ringCount, ringSlots: ringSlots)
        bytes = [UInt8](repeating: 0, count: total)
        self.ringCount = ringCount
        self.ringSlots = ringSlots
        self.runID = runID
        self.ownerPID = ownerPID
        ringTableOffset = Int(SPOORINT_HEADER_SIZE)
        let operatorTableOffset = ringTableOffset + SharedSegment.roundUp(ringCount * 192, 4096)
        let sharerTableOffset = operatorTableOffset + Int(SPOOR_MAX_OPERATORS) * 512
        ringDataOffset = sharerTableOffset + 4096 * 64
        put(SPOORINT_SHM_MAGIC, at: 0)
        put32(SPOORINT_SHM_LAYOUT_VERSION, at: 8)
        put32(SPOORINT_HEADER_SIZE, at: 12)
        put(UInt64(total), at: 16)
        put32(UInt32(ringCount), at: 24)
        put32(UInt32(ringSlots), at: 28)
        put32(SPOORINT_SLOT_SIZE, at: 32)
        put32(ownerPID, at: 36)
        put(UInt64(ringTableOffset), at: 40)
        put(UInt64(ringDataOffset), at: 48)
        put(UInt64(operatorTableOffset), at: 56)
        put32(SPOOR_MAX_OPERATORS, at: 64)
        put32(512, at: 68)
        put(runID, at: 96)
        put(UInt64(SPOORINT_SEGMENT_RUNNING), at: 104)
        put(UInt64(sharerTableOffset), at: 112)
        put32(4096, at: 120)
        put32(64, at: 124)
        for (index, byte) in runDirectory.utf8.enumerated() { bytes[1024 + index] = byte }
    }

    mutating func put(_ value: UInt64, at offset: Int) {
        for index in 0..<8 { bytes[offset + index] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(index))) }
    }

    mutating func put32(_ value: UInt32, at offset: Int) {
        for index in 0..<4 { bytes[offset + index] = UInt8(truncatingIfNeeded: value >> (8 * UInt32(index))) }
    }

    /// Sets word `field` (a `RingField` offset) of ring `ring`'s descriptor.
    mutating func setRing(_ ring: Int, _ field: Int, _ value: UInt64) {
        put(value, at: ringTableOffset + ring * 192 + field)
    }

    /// Writes `slots` (whole slots) into ring `ring` from `position`, wrapping at the end.
    mutating func write(ring: Int, at position: UInt64, _ slots: [UInt8]) {
        for (index, byte) in slots.enumerated() {
            let slot = Int((position &+ UInt64(index / 64)) & UInt64(ringSlots - 1))
            bytes[ringDataOffset + (ring * ringSlots + slot) * 64 + index % 64] = byte
        }
    }

    /// Appends reports to ring `ring` from its current head, publishing the new head.
    mutating func append(ring: Int, _ reports: [[UInt8]]) {
        let headOffset = ringTableOffset + ring * 192 + RingField.head
        var head = bytes[headOffset..<(headOffset + 8)].enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
        for report in reports {
            write(ring: ring, at: head, report)
            head &+= UInt64(report.count / 64)
        }
        setRing(ring, RingField.head, head)
        setRing(ring, RingField.committed, head)
    }

    /// The slots of one report.
    static func report(
        id: UInt64, parents: [UInt64] = [], attachment: [UInt8] = [], kind: UInt8 = 2, parentCount: UInt32? = nil
    ) -> [UInt8] {
        var header = [UInt8](repeating: 0, count: 64)
        func put(_ value: UInt64, _ offset: Int, _ width: Int) {
            for index in 0..<width { header[offset + index] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(index))) }
        }
        put(id, 0, 8)
        put(parents.first ?? 0, 8, 8)
        put(id &* 31, 16, 8)
        put(100, 24, 8)
        put(200, 32, 8)
        put(1, 40, 4)
        put(UInt64(UInt32.max), 44, 4)
        put(4242, 48, 4)
        put(UInt64(parentCount ?? UInt32(parents.count)), 52, 4)
        put(UInt64(attachment.count), 56, 2)
        header[58] = kind
        put(1, 60, 4)
        var extensionBytes: [UInt8] = []
        for parent in parents.dropFirst() { for index in 0..<8 { extensionBytes.append(UInt8(truncatingIfNeeded: parent >> (8 * UInt64(index)))) } }
        extensionBytes += attachment
        while extensionBytes.count % 64 != 0 { extensionBytes.append(0) }
        return header + extensionBytes
    }

    /// One attachment pair in the wire form.
    static func pair(_ key: String, _ value: [UInt8]) -> [UInt8] {
        [UInt8(key.utf8.count), UInt8(value.count & 0xff), UInt8(value.count >> 8)] + Array(key.utf8) + value
    }

    /// Creates shm segment `name` holding these bytes.
    func create(_ name: String) throws {
        _ = shm_unlink(name)
        let fd = shm_open(name, O_CREAT | O_EXCL | O_RDWR, 0o600)
        #expect(fd >= 0)
        defer { close(fd) }
        let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        #expect(written == bytes.count)
    }

    /// The run directory name this image's run would have.
    var runDirectoryName: String { "20260101T000000Z-\(ownerPID)-\(hex64(runID).suffix(8))" }
}

/// Reads a recovered log back, expecting no damage.
private func readBack(_ directory: String) throws -> [Report] {
    let log = try readReports(directory)
    #expect(log.damage.isEmpty, "recovery writes only what its reader accepts: \(log.damage)")
    return log.reports
}

private func shmName(_ tag: String) -> String { "/spoor-recovery-test-\(tag)-\(getpid())" }

@Suite("Recovery of crafted segments", .serialized)
struct RecoveryTests {
    /// The sweep behind spoor_recover_dead, spoor_init/spoor_shutdown and `spoor dump`: a dead
    /// process's segment under the root is drained into its run and unlinked; a segment whose
    /// pid is alive but does not map it (a reused pid) counts as dead; the caller's own segment
    /// (a live owner), a segment of another root and a closed one are left alone; a second
    /// sweep finds nothing.
    @Test("recoverDead drains dead owners' segments under the root only, once")
    func sweepDead() throws {
        let root = temporaryDirectory()
        let other = temporaryDirectory()
        func make(_ tag: String, pid: UInt32, root: String, state: UInt64 = UInt64(SPOORINT_SEGMENT_RUNNING)) throws -> (name: String, run: String) {
            var image = SegmentImage(ownerPID: pid)
            let run = root + "/" + image.runDirectoryName
            #expect(mkdir(run, 0o700) == 0)
            image = SegmentImage(ownerPID: pid, runDirectory: run)
            image.append(ring: 0, [SegmentImage.report(id: 1, parents: [5]), SegmentImage.report(id: 2, parents: [6])])
            image.put(state, at: 104)
            let name = shmName("sweep-\(tag)")
            try image.create(name)
            return (name, run)
        }
        let dead = try make("dead", pid: 0x7fff_fff0, root: root)
        let reused = try make("reused", pid: UInt32(getppid()), root: root)
        let live = try make("live", pid: UInt32(getpid()), root: root)
        let elsewhere = try make("elsewhere", pid: 0x7fff_fff1, root: other)
        let closed = try make("closed", pid: 0x7fff_fff2, root: root, state: UInt64(SPOORINT_SEGMENT_CLOSED))
        defer { for name in [dead.name, reused.name, live.name, elsewhere.name, closed.name] { _ = shm_unlink(name) } }

        let swept = SegmentRecovery.recoverDead(under: root)
        #expect(swept.failures.isEmpty, "\(swept.failures)")
        #expect(swept.segments == 2 && swept.reports == 4)
        #expect(try readBack(dead.run).map(\.id) == [1, 2])
        #expect(try readBack(reused.run).map(\.id) == [1, 2])
        func exists(_ name: String) -> Bool {
            let fd = shm_open(name, O_RDONLY, 0)
            if fd >= 0 { close(fd) }
            return fd >= 0
        }
        #expect(!exists(dead.name) && !exists(reused.name), "recovered segments are unlinked")
        #expect(exists(live.name) && exists(elsewhere.name) && exists(closed.name), "the others are left alone")
        #expect(try FileManager.default.contentsOfDirectory(atPath: live.run).isEmpty)
        #expect(SegmentRecovery.recoverDead(under: root).segments == 0, "a second sweep finds nothing")
        #expect(SegmentRecovery.recoverDead(under: root + "/missing").segments == 0)
    }

    @Test("counters near 2^63 and 2^64 in the segment do not trap")
    func hugeCounters() throws {
        var image = SegmentImage()
        image.append(ring: 0, [SegmentImage.report(id: 1, parents: [7]), SegmentImage.report(id: 2, parents: [8]),
                              SegmentImage.report(id: 3, parents: [9])])
        image.setRing(0, RingField.drained, UInt64(Int64.max))
        image.setRing(0, RingField.committed, UInt64.max)
        image.setRing(0, RingField.dropped, UInt64.max)
        image.setRing(0, RingField.batches, UInt64.max)
        image.setRing(1, RingField.drained, UInt64.max)
        image.setRing(1, RingField.sinkErrors, UInt64(Int64.max))
        let name = shmName("counters")
        try image.create(name)
        defer { _ = shm_unlink(name) }
        let out = temporaryDirectory()
        let summary = try SegmentRecovery.recover(name: name, outputDirectory: out, force: true, keepSegment: false)
        #expect(summary.reports == 3)
        // drained_by_collector comes from the log, which held nothing of this run, whatever the
        // segment's counters claim.
        #expect(summary.drainedByCollector == 0)
        #expect(try readBack(out).map(\.id) == [1, 2, 3])
    }

    @Test("a report whose attachment is malformed is skipped and counted; the reports after it are kept")
    func badAttachment() throws {
        var image = SegmentImage()
        let good = SegmentImage.pair("k", [1, 2, 3])
        image.append(ring: 0, [
            SegmentImage.report(id: 1, parents: [5], attachment: good),
            SegmentImage.report(id: 2, parents: [6], attachment: [0, 1, 0, 9]),  // key length 0
            SegmentImage.report(id: 3, parents: [7, 8], attachment: good),
            SegmentImage.report(id: 4, parents: [9], attachment: [3, 200, 0, 1, 2, 3]),  // value runs past the end
            SegmentImage.report(id: 5, kind: 1),
        ])
        image.append(ring: 1, [SegmentImage.report(id: 6, kind: 3)])
        let name = shmName("attach")
        try image.create(name)
        defer { _ = shm_unlink(name) }
        let out = temporaryDirectory()
        let summary = try SegmentRecovery.recover(name: name, outputDirectory: out, force: true, keepSegment: false)
        #expect(summary.reports == 4)
        #expect(summary.invalidReports == 2)
        #expect(summary.damagedRings.isEmpty)
        let reports = try readBack(out)
        #expect(reports.map(\.id).sorted() == [1, 3, 5, 6])
        #expect(reports.first { $0.id == 3 }?.parents == [7, 8])
        #expect(reports.first { $0.id == 3 }?.attachment == [Attribute(key: Array("k".utf8), value: [1, 2, 3])])
        // Positions stay exact across the skipped reports (the reader derives them from slot counts).
        let slotsOfFirstTwo = UInt64(SegmentImage.report(id: 1, parents: [5], attachment: good).count / 64
            + SegmentImage.report(id: 2, parents: [6], attachment: [0, 1, 0, 9]).count / 64)
        #expect(reports.first { $0.id == 3 }?.position == slotsOfFirstTwo)
    }

    @Test("a malformed header ends its ring: the reports before it are kept, the ring is reported damaged")
    func badHeader() throws {
        var image = SegmentImage()
        image.append(ring: 0, [SegmentImage.report(id: 1, parents: [5]), SegmentImage.report(id: 2, kind: 9),
                              SegmentImage.report(id: 3, parents: [5])])
        image.append(ring: 1, [SegmentImage.report(id: 4, parents: [1, 2, 3], parentCount: 60)])  // runs past the head
        let name = shmName("header")
        try image.create(name)
        defer { _ = shm_unlink(name) }
        let out = temporaryDirectory()
        let summary = try SegmentRecovery.recover(name: name, outputDirectory: out, force: true, keepSegment: false)
        #expect(summary.reports == 1)
        #expect(summary.damagedRings == [0, 1])
        #expect(try readBack(out).map(\.id) == [1])
    }

    @Test("a ring range longer than the ring, and a file that is not a segment, are refused without reading")
    func badGeometry() throws {
        var image = SegmentImage()
        image.append(ring: 0, [SegmentImage.report(id: 1, parents: [5])])
        image.setRing(0, RingField.head, UInt64.max)
        image.setRing(1, RingField.tail, UInt64(Int64.max))
        image.setRing(1, RingField.head, UInt64(Int64.max) &+ 2)
        image.write(ring: 1, at: UInt64(Int64.max), SegmentImage.report(id: 9, parents: [5]) + SegmentImage.report(id: 10, parents: [5]))
        let name = shmName("geometry")
        try image.create(name)
        let out = temporaryDirectory()
        let summary = try SegmentRecovery.recover(name: name, outputDirectory: out, force: true, keepSegment: false)
        #expect(summary.damagedRings == [0])
        #expect(try readBack(out).map(\.id) == [9, 10], "positions near 2^63 wrap at the ring's end")

        var truncated = SegmentImage()
        truncated.put(UInt64(truncated.bytes.count + 64), at: 16)
        try truncated.create(name)
        defer { _ = shm_unlink(name) }
        #expect(throws: SegmentRecovery.Failure.self) {
            try SegmentRecovery.recover(name: name, outputDirectory: temporaryDirectory(), force: true, keepSegment: true)
        }
    }

    /// Another mapping of the segment rewrites report headers in a loop while recovery drains:
    /// every report is validated and encoded from one private copy, so the encoder never sees a
    /// larger report than the validator did (before, it wrote megabytes past its buffer). Run
    /// under AddressSanitizer to see any overrun: `swift test --sanitize=address --filter Recovery`.
    @Test("a concurrent writer rewriting report headers cannot make recovery overrun or write a bad log")
    func concurrentRewrite() throws {
        let slots = 16_384
        var image = SegmentImage(ringCount: 1, ringSlots: slots)
        image.append(ring: 0, (0..<slots).map { SegmentImage.report(id: UInt64($0 + 1), parents: [UInt64($0 + 1)]) })
        let name = shmName("race")
        try image.create(name)
        defer { _ = shm_unlink(name) }
        let fd = shm_open(name, O_RDWR, 0)
        #expect(fd >= 0)
        defer { close(fd) }
        let mapping = try #require(mmap(nil, image.bytes.count, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0))
        #expect(mapping != MAP_FAILED)
        defer { munmap(mapping, image.bytes.count) }
        let base = UInt(bitPattern: mapping)
        let dataOffset = image.ringDataOffset
        let stop = SharedBuffer<UInt64>(count: 2, initial: 0)
        let writer = Thread {
            guard let mapped = UnsafeMutableRawPointer(bitPattern: base) else { return }
            var state: UInt64 = 0x9e37_79b9_7f4a_7c15
            // Toggles headers between a 1-slot report and ones that claim 65,536 parents or a
            // 1,024-byte attachment, and reverts them, as fast as it can.
            while spoorint_load_acquire(stop.pointer.baseAddress!) == 0 {
                let slot = Int(splitMix64(&state) % UInt64(slots))
                let header = mapped + dataOffset + slot * 64
                let parentsWord = header + 52
                let attachWord = header + 56
                parentsWord.storeBytes(of: 65_536, as: UInt32.self)
                attachWord.storeBytes(of: 1024, as: UInt16.self)
                parentsWord.storeBytes(of: 1, as: UInt32.self)
                attachWord.storeBytes(of: 0, as: UInt16.self)
                spoorint_store_relaxed(stop.pointer.baseAddress! + 1, spoorint_load_relaxed(stop.pointer.baseAddress! + 1) &+ 1)
            }
        }
        writer.start()
        while spoorint_load_acquire(stop.pointer.baseAddress! + 1) == 0 { sched_yield() }
        var recovered = 0
        for _ in 0..<8 {
            // Make the segment drainable again from the start.
            (mapping + 104).storeBytes(of: UInt64(SPOORINT_SEGMENT_RUNNING), as: UInt64.self)
            (mapping + image.ringTableOffset + RingField.tail).storeBytes(of: 0, as: UInt64.self)
            let out = temporaryDirectory()
            let summary = try SegmentRecovery.recover(name: name, outputDirectory: out, force: true, keepSegment: true)
            let reports = try readBack(out)
            #expect(reports.count == summary.reports)
            #expect(reports.allSatisfy { $0.kind == .checkpoint && $0.attachment.isEmpty || $0.parents.count <= 65_536 })
            recovered += summary.reports
        }
        spoorint_store_release(stop.pointer.baseAddress!, 1)
        while !writer.isFinished { sched_yield() }
        #expect(recovered > 0)
        #expect(spoorint_load_relaxed(stop.pointer.baseAddress! + 1) > 1, "the writer ran during recovery")
    }
}

/// Segments of another user: run as root (the test is skipped otherwise).
@Suite("Recovery of another user's segment", .serialized, .enabled(if: geteuid() == 0))
struct RecoveryOwnershipTests {
    static let otherUID: uid_t = 12_345
    static let otherGID: gid_t = 12_346

    /// A root directory readable by everyone (as a log root under /tmp or /home is), holding
    /// `name` owned by the other user.
    func logRoot() -> String {
        let root = temporaryDirectory()
        chmod(root, 0o755)
        return root
    }

    func ownedDirectory(_ path: String) {
        #expect(mkdir(path, 0o700) == 0)
        #expect(chown(path, Self.otherUID, Self.otherGID) == 0)
    }

    func image(runDirectory: String) -> SegmentImage {
        var image = SegmentImage(runDirectory: runDirectory)
        image.append(ring: 0, [SegmentImage.report(id: 1, parents: [5]), SegmentImage.report(id: 2, parents: [6])])
        return image
    }

    func createOwned(_ image: SegmentImage, _ name: String) throws {
        try image.create(name)
        #expect(chown("/dev/shm" + name, Self.otherUID, Self.otherGID) == 0)
    }

    @Test("refused without --allow-other-owner; with it, the files belong to the segment's owner")
    func otherOwner() throws {
        let root = logRoot()
        let probe = SegmentImage()
        let run = root + "/" + probe.runDirectoryName
        ownedDirectory(run)
        let name = shmName("owner")
        try createOwned(image(runDirectory: run), name)
        defer { _ = shm_unlink(name) }
        let refusal = #expect(throws: SegmentRecovery.Failure.self) {
            try SegmentRecovery.recover(name: name, outputDirectory: nil, force: true, keepSegment: true)
        }
        #expect(refusal?.description.contains("uid 12345") == true)
        #expect(try FileManager.default.contentsOfDirectory(atPath: run).isEmpty, "nothing was written")

        let summary = try SegmentRecovery.recover(name: name, outputDirectory: nil, force: true, keepSegment: false, allowOtherOwner: true)
        #expect(summary.reports == 2)
        #expect(summary.runDirectory == run)
        let files = try FileManager.default.contentsOfDirectory(atPath: run)
        #expect(!files.isEmpty)
        for file in files {
            var info = stat()
            #expect(lstat(run + "/" + file, &info) == 0)
            #expect(info.st_uid == Self.otherUID && info.st_gid == Self.otherGID, "\(file) belongs to the segment's owner")
        }
        #expect(try readBack(run).map(\.id) == [1, 2])
        #expect(getegid() == 0 && geteuid() == 0)
        // The caller's own file-system identity is back: root may create a file in /tmp's 0700 directory.
        let mine = temporaryDirectory()
        #expect(mkdir(mine + "/after", 0o700) == 0)
    }

    @Test("--out: the caller's directory, files given to the segment's owner")
    func otherOwnerOut() throws {
        let name = shmName("owner-out")
        try createOwned(image(runDirectory: ""), name)
        defer { _ = shm_unlink(name) }
        let out = temporaryDirectory() + "/recovered"
        let summary = try SegmentRecovery.recover(name: name, outputDirectory: out, force: true, keepSegment: false, allowOtherOwner: true)
        #expect(summary.reports == 2)
        for file in try FileManager.default.contentsOfDirectory(atPath: out) {
            var info = stat()
            #expect(lstat(out + "/" + file, &info) == 0)
            #expect(info.st_uid == Self.otherUID, "\(file) belongs to the segment's owner")
        }
    }

    @Test("a recorded run directory through a symbolic link, with '..', relative, of another owner or another run is refused")
    func escapes() throws {
        let root = logRoot()
        let probe = SegmentImage()
        let real = root + "/real"
        ownedDirectory(real)
        ownedDirectory(real + "/" + probe.runDirectoryName)
        #expect(symlink(real, root + "/link") == 0)
        let rootOwned = root + "/rootowned"
        #expect(mkdir(rootOwned, 0o755) == 0)
        #expect(mkdir(rootOwned + "/" + probe.runDirectoryName, 0o755) == 0)
        ownedDirectory(root + "/20260101T000000Z-1-00000000")
        let cases: [(String, String)] = [
            (root + "/link/" + probe.runDirectoryName, "symbolic link"),
            (real + "/../real/" + probe.runDirectoryName, "normalised"),
            (real + "//" + probe.runDirectoryName, "normalised"),
            ("real/" + probe.runDirectoryName, "absolute"),
            (rootOwned + "/" + probe.runDirectoryName, "belongs to uid 0"),
            (root + "/20260101T000000Z-1-00000000", "this run"),
            ("", "no run directory"),
        ]
        for (path, why) in cases {
            let name = shmName("escape")
            try createOwned(image(runDirectory: path), name)
            defer { _ = shm_unlink(name) }
            let refusal = #expect(throws: SegmentRecovery.Failure.self, "\(path)") {
                try SegmentRecovery.recover(name: name, outputDirectory: nil, force: true, keepSegment: true, allowOtherOwner: true)
            }
            #expect(refusal?.description.contains(why) == true, "\(path): \(refusal?.description ?? "")")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: real + "/" + probe.runDirectoryName).isEmpty)
        #expect(try FileManager.default.contentsOfDirectory(atPath: rootOwned + "/" + probe.runDirectoryName).isEmpty)
    }
}

/// Whether this process runs under AddressSanitizer or ThreadSanitizer, whose shadow memory alone
/// needs far more than 4 GiB of address space (the child of this test is built the same way).
let underShadowMemorySanitizer = (["__asan_init", "__tsan_init"] as [String]).contains { (symbol: String) in
    dlsym(UnsafeMutableRawPointer(bitPattern: 0), symbol) != nil
}

@Suite("Segment lifecycle", .disabled(if: underShadowMemorySanitizer, "an address-space limit cannot hold a sanitizer's shadow memory"))
struct SegmentLifecycleTests {
    /// Each cycle used to keep its retired segment reserved (about 66 MB): spoor_init failed
    /// after 56 cycles under this limit (30 with a failed init in each cycle).
    @Test("1,000 init/shutdown cycles and 1,000 failed inits fit in a 4 GiB address space")
    func cyclesUnderAddressSpaceLimit() throws {
        let directory = temporaryDirectory()
        let child = Process()
        let executable = URL(fileURLWithPath: try #require(Bundle.main.executableURL?.path ?? CommandLine.arguments.first))
        child.executableURL = try RuntimeTests().childExecutable(near: executable)
        child.arguments = ["--cycles", directory, "1000"]
        let output = Pipe()
        child.standardOutput = output
        try child.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        child.waitUntilExit()
        #expect(child.terminationStatus == 0, "\(text)")
    }
}
