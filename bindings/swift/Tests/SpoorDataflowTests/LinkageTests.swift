import Spoor
import SpoorABI
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The Swift binding is a thin skin over libspoor.so: these tests fail if a program built from
/// this package carried its own copy of the runtime.
@Suite("Linkage: one contract")
struct LinkageTests {
    /// The file mapped at `address` (from /proc/self/maps), as the dynamic loader placed it.
    func imagePath(of address: UnsafeRawPointer) -> String? {
        guard let file = fopen("/proc/self/maps", "r") else { return nil }
        defer { fclose(file) }
        let target = UInt(bitPattern: address)
        var line = [CChar](repeating: 0, count: 4096)
        while fgets(&line, Int32(line.count), file) != nil {
            let bytes = line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
            let text = String(decoding: bytes, as: UTF8.self).split(separator: "\n").first.map(String.init) ?? ""
            let fields = text.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 6 else { continue }
            let range = fields[0].split(separator: "-")
            guard range.count == 2, let low = UInt(range[0], radix: 16), let high = UInt(range[1], radix: 16) else { continue }
            if target >= low && target < high { return fields[5...].joined(separator: " ") }
        }
        return nil
    }

    func realPath(_ path: String) -> String {
        guard let resolved = realpath(path, nil) else { return path }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    @Test("the runtime's functions and thread state come from libspoor.so, not from this program")
    func runtimeIsTheSharedLibrary() throws {
        let function = unsafeBitCast(spoor_now as @convention(c) () -> UInt64, to: UnsafeRawPointer.self)
        let library = try #require(imagePath(of: function))
        #expect(library.contains("libspoor.so"), "spoor_now is defined in \(library)")
        // The slow paths behind the inline checkpoints, and the state they use, live there too.
        let slow = unsafeBitCast(spoor__poke_slow as @convention(c) (UnsafeMutablePointer<spoor__thread>, UInt64, UInt32, UInt32, UInt64) -> Int32, to: UnsafeRawPointer.self)
        #expect(imagePath(of: slow).map(realPath) == realPath(library))
        // The executable defines none of the runtime's functions: the loader finds them in the library.
        let found = try #require(dlsym(nil, "spoor__checkpoint1_slow"))
        #expect(imagePath(of: UnsafeRawPointer(found)).map(realPath) == realPath(library))
        if let expected = getenv("SPOOR_EXPECT_LIBRARY").map({ String(cString: $0) }) {
            #expect(realPath(library) == realPath(expected), "running on \(library), expected \(expected)")
        }
    }
}
