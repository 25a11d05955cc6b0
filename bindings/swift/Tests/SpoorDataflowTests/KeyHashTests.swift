import Foundation
import Spoor
import SpoorABI
import Testing

enum Color: String, TraceKey { case red }

/// spoor_hash_bytes over explicit canonical bytes, the reference every binding must match.
func canonical(_ bytes: [UInt8]) -> UInt64 {
    bytes.withUnsafeBufferPointer { spoor_hash_bytes($0.baseAddress, $0.count) }
}

func littleEndian(_ value: UInt64) -> [UInt8] {
    (0..<8).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) }
}

@Suite("Stable key hashes")
struct KeyHashTests {
    @Test("every key type hashes its canonical bytes with spoor_hash_bytes; FNV-1a test vectors hold")
    func canonicalBytes() {
        #expect(canonical([]) == 0xcbf2_9ce4_8422_2325)
        #expect(canonical(Array("a".utf8)) == 0xaf63_dc4c_8601_ec8c)
        #expect(canonical(Array("foobar".utf8)) == 0x8594_4171_f739_67e8)
        #expect("alpha".traceKeyHash == canonical(Array("alpha".utf8)))
        #expect("xalpha".dropFirst().traceKeyHash == canonical(Array("alpha".utf8)))
        #expect(Character("é").traceKeyHash == canonical(Array("é".utf8)))
        #expect([UInt8]([1, 2, 3]).traceKeyHash == canonical([1, 2, 3]))
        let minusOne = canonical(littleEndian(UInt64.max))
        #expect((-1).traceKeyHash == minusOne)
        #expect(Int8(-1).traceKeyHash == minusOne)
        #expect(Int16(-1).traceKeyHash == minusOne)
        #expect(Int32(-1).traceKeyHash == minusOne)
        #expect(Int64(-1).traceKeyHash == minusOne)
        let seven = canonical(littleEndian(7))
        #expect([UInt(7).traceKeyHash, UInt8(7).traceKeyHash, UInt16(7).traceKeyHash, UInt32(7).traceKeyHash,
                 UInt64(7).traceKeyHash, 7.traceKeyHash].allSatisfy { $0 == seven })
        #expect(true.traceKeyHash == canonical(littleEndian(1)))
        #expect(false.traceKeyHash == canonical(littleEndian(0)))
        #expect(1.5.traceKeyHash == canonical(littleEndian((1.5 as Double).bitPattern)))
        #expect(Float(1.5).traceKeyHash == 1.5.traceKeyHash)
        #expect(Color.red.traceKeyHash == "red".traceKeyHash)
        #expect(spoor_hash_u64(12_345) == canonical(littleEndian(12_345)))
    }

    @Test("two processes report the same hash for every key type, though their hashValues differ")
    func acrossProcesses() throws {
        func probe() throws -> [String: UInt64] {
            // The probe is built next to this test program.
            let me = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
            var directory = me.deletingLastPathComponent()
            var executable: URL?
            for _ in 0..<4 where executable == nil {
                let candidate = directory.appendingPathComponent("SpoorKeyProbe")
                if FileManager.default.isExecutableFile(atPath: candidate.path) { executable = candidate }
                directory = directory.deletingLastPathComponent()
            }
            let process = Process()
            struct ProbeMissing: Error, CustomStringConvertible { var description: String }
            guard let executable else { throw ProbeMissing(description: "SpoorKeyProbe is not built next to \(me.path)") }
            process.executableURL = executable
            let pipe = Pipe()
            process.standardOutput = pipe
            try process.run()
            let data = pipe.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            #expect(process.terminationStatus == 0)
            var table: [String: UInt64] = [:]
            for line in String(decoding: data, as: UTF8.self).split(separator: "\n") {
                let parts = line.split(separator: " ")
                if parts.count == 2, let value = UInt64(parts[1]) { table[String(parts[0])] = value }
            }
            return table
        }
        let first = try probe()
        let second = try probe()
        #expect(first.count == 19)
        for (name, hash) in first where name != "hashValue" {
            #expect(second[name] == hash, "\(name)")
        }
        // This process agrees too, and the probe's String hash is the canonical one.
        #expect(first["String"] == "alpha".traceKeyHash)
        #expect(first["RawRepresentable"] == Color.red.traceKeyHash)
        #expect(first["Int8"] == Int64(-1).traceKeyHash)
        // What the engine used to report for non-TraceKey keys differs between processes (Swift
        // seeds Hasher per process): the reason keyed operators now require TraceKey.
        #expect(first["hashValue"] != second["hashValue"] || first["hashValue"] != UInt64(bitPattern: Int64("alpha".hashValue)))
    }
}
