#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// One run directory: a directory holding segment files.
public struct LogRun: Sendable, Hashable {
    /// The path of the run directory, as found under the path given.
    public var directory: String
    /// The last component of the run directory's resolved path, such as
    /// `20261202T063924Z-1234-89abcdef`; unique among the runs of one log root.
    public var name: String

    /// Creates a run from its directory path.
    public init(directory: String) {
        self.directory = directory
        var resolved = directory
        if let real = realpath(directory, nil) {
            resolved = String(cString: real)
            free(real)
        }
        self.name = resolved.split(separator: "/").last.map(String.init) ?? resolved
    }

    /// The run id suffix of a standard run directory name (`TIME-PID-XXXXXXXX`): its last 8 hex
    /// digits in lowercase, or nil if the name does not end that way.
    public var idSuffix: String? {
        guard let dash = name.lastIndex(of: "-") else { return nil }
        let suffix = name[name.index(after: dash)...].lowercased()
        guard suffix.count == 8, suffix.allSatisfy(\.isHexDigit) else { return nil }
        return suffix
    }

    /// Whether `selector` names this run: the run directory name, the path given for it, its
    /// 8-digit id suffix, or a 16-digit run id ending in that suffix (hex case-insensitive).
    public func matches(_ selector: String) -> Bool {
        if selector == name || selector == directory { return true }
        guard let idSuffix else { return false }
        let lowered = selector.lowercased()
        guard lowered.allSatisfy(\.isHexDigit) else { return false }
        return lowered == idSuffix || (lowered.count == 16 && lowered.hasSuffix(idSuffix))
    }
}

/// Finds the runs under a path: the path itself if it is a run directory, otherwise its
/// subdirectories that are (a log root).
public enum LogRoot {
    /// The runs at `path`: `path` itself if it holds segment files, otherwise its subdirectories
    /// (not starting with `.`) that do, in name order (run names start with their UTC start
    /// time). Empty if there are none. Throws if `path` cannot be opened as a directory.
    public static func runs(at path: String) throws -> [LogRun] {
        let names = try LogReader.listDirectory(path)
        if names.contains(where: isSegmentName) { return [LogRun(directory: path)] }
        var runs: [LogRun] = []
        let prefix = path.hasSuffix("/") ? path : path + "/"
        for name in names.sorted() where !name.hasPrefix(".") {
            let child = prefix + name
            if let inner = try? LogReader.listDirectory(child), inner.contains(where: isSegmentName) {
                runs.append(LogRun(directory: child))
            }
        }
        return runs
    }

    /// The runs at `path` that `selectors` name (see `LogRun.matches`), or all of them if
    /// `selectors` is empty, in name order.
    ///
    /// Throws, with a message meant for the person who typed the path, if `path` does not exist,
    /// is not a directory, holds no run, or if a selector names none of its runs.
    public static func runs(at path: String, selecting selectors: [String]) throws -> [LogRun] {
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw LogError("cannot read \(path): \(String(cString: strerror(errno)))")
        }
        guard (info.st_mode & S_IFMT) == S_IFDIR else {
            throw LogError("\(path) is not a directory: give a run directory or a log root (a directory of run directories)")
        }
        let all = try runs(at: path)
        guard !all.isEmpty else {
            throw LogError("no run in \(path): neither it nor any of its subdirectories holds segment files (segment-NNNNNN.spoorlog)")
        }
        guard !selectors.isEmpty else { return all }
        for selector in selectors where !all.contains(where: { $0.matches(selector) }) {
            let known = all.map(\.name).joined(separator: ", ")
            throw LogError("no run named \(selector) in \(path) (its runs: \(known))")
        }
        return all.filter { run in selectors.contains(where: run.matches) }
    }

    static func isSegmentName(_ name: String) -> Bool {
        LogFormat.segmentIndex(ofFileName: name) != nil
    }
}
