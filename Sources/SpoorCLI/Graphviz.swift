#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import SpoorLog
import SpoorReconstruction
import SpoorSupport

/// Draws DOT text with Graphviz's `dot` (Debian package graphviz): the one place the tool runs it.
enum Graphviz {
    /// The SVG `dot -Tsvg` makes of `text`, without its XML prolog and DOCTYPE (so that it can be
    /// inlined in HTML). Goes through temporary files: a large graph would fill a pipe in both
    /// directions. Throws a `LogError` saying how to install Graphviz if `dot` is missing.
    static func svg(_ text: String) throws -> String {
        let directory = temporaryRoot()
        var template = Array((directory + "/spoor-graph-XXXXXX").utf8CString)
        guard template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) != nil else {
            throw LogError("cannot create a temporary directory in \(directory): \(errnoText(errno))")
        }
        let scratch = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        let input = scratch + "/graph.dot", output = scratch + "/graph.svg"
        defer {
            unlink(input)
            unlink(output)
            rmdir(scratch)
        }
        try writeFile(input, Array(text.utf8))
        var child: pid_t = 0
        let arguments = ["dot", "-Tsvg", input, "-o", output]
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        let status = posix_spawnp(&child, "dot", nil, nil, &argv, environ)
        guard status == 0 else {
            throw LogError(status == ENOENT
                ? "drawing needs Graphviz's dot on PATH (Debian: apt-get install graphviz; scripts/install-deps installs it)"
                : "cannot run dot: \(errnoText(status))")
        }
        var result: Int32 = 0
        while waitpid(child, &result, 0) == -1 && errno == EINTR {}
        guard result & 0x7f == 0, (result >> 8) & 0xff == 0 else { throw LogError("dot failed (wait status \(result))") }
        let drawn: [UInt8]
        do {
            drawn = try TextFile.bytes(output)
        } catch {
            throw LogError("dot wrote no SVG: \(error)")
        }
        var svg = String(decoding: drawn, as: UTF8.self)
        if let start = svg.range(of: "<svg") { svg = String(svg[start.lowerBound...]) }
        return svg
    }
}

/// The directory for temporary files: TMPDIR, else /tmp.
func temporaryRoot() -> String {
    getenv("TMPDIR").map { String(cString: $0) } ?? "/tmp"
}
