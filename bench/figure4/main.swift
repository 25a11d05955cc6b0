// Reproduces Figure 4 of the tracing paper on this machine: a streaming windowed word count
// over random sentences of 3-10 words from a vocabulary of 8,000 words (uniform and Zipf),
// tumbling windows of 20,000 sentences; processing time untraced and traced at sampling 0.01%,
// 0.5% and 100%, direct and piggyback, each as a ratio to the untraced run of the same round.
// Also the engine's untraced throughput next to a hand-written single-threaded loop.
//
// Every engine run happens in a child process of its own (this program, re-run with --run), so
// that no run inherits the heap, threads or rings another left behind; the modes alternate within
// each round so that drift in the machine's speed hits them alike, and a mode's ratio is the
// median over rounds of its run against the untraced run of the same round.
//
// Prints one JSON object per line. Usage: SpoorFigure4 [--quick]
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Spoor
import SpoorDataflow
import Synchronization

let quick = CommandLine.arguments.contains("--quick")
let windowSize = 20_000
let windows = quick ? 6 : 16
let rounds = quick ? 1 : 7
let warmupWindows = 2

struct Generator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
    mutating func uniform() -> Double { Double(next() >> 11) * 0x1p-53 }
}

/// 8,000 distinct random lowercase words of 3-10 letters.
func vocabulary(_ generator: inout Generator) -> [String] {
    var words = Set<String>()
    while words.count < 8_000 {
        let length = 3 + Int(generator.next() % 8)
        words.insert(String((0..<length).map { _ in Character(UnicodeScalar(UInt8(97 + generator.next() % 26))) }))
    }
    return words.sorted()
}

/// Sentences of 3-10 words; word ranks uniform or Zipf(s = 1) over the vocabulary.
func sentences(zipf: Bool, words: [String], count: Int, _ generator: inout Generator) -> [String] {
    var cumulative: [Double] = []
    if zipf {
        var sum = 0.0
        for rank in 1...words.count {
            sum += 1 / Double(rank)
            cumulative.append(sum)
        }
        cumulative = cumulative.map { $0 / sum }
    }
    func pick() -> String {
        guard zipf else { return words[Int(generator.next() % UInt64(words.count))] }
        let u = generator.uniform()
        var low = 0
        var high = cumulative.count - 1
        while low < high {
            let middle = (low + high) / 2
            if cumulative[middle] < u { low = middle + 1 } else { high = middle }
        }
        return words[low]
    }
    return (0..<count).map { _ in (0..<(3 + Int(generator.next() % 8))).map { _ in pick() }.joined(separator: " ") }
}

func now() -> UInt64 {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
}

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    guard !sorted.isEmpty else { return 0 }
    return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
}

func percentile(_ values: [Double], _ p: Double) -> Double {
    let sorted = values.sorted()
    guard !sorted.isEmpty else { return 0 }
    return sorted[min(sorted.count - 1, Int((p * Double(sorted.count - 1)).rounded()))]
}

/// The hand-written reference: one thread, one dictionary per window.
func handLoop(_ text: [String]) -> (secondsPerWindow: [Double], checksum: Int) {
    var times: [Double] = []
    var checksum = 0
    var start = now()
    var counts: [String: Int] = [:]
    for (index, sentence) in text.enumerated() {
        for word in sentence.split(separator: " ") { counts[String(word), default: 0] += 1 }
        if (index + 1) % windowSize == 0 {
            checksum &+= counts.count
            counts.removeAll(keepingCapacity: true)
            let end = now()
            times.append(Double(end - start) / 1e9)
            start = end
        }
    }
    return (times, checksum)
}

struct Mode {
    var name: String
    var sampling: Double
    var tracing: TracingMode?
}

/// One engine run: the per-window processing times (window close to window close), the traced
/// output count and the core's counters.
func engineRun(_ text: [String], mode: Mode, logDirectory: String) throws -> (secondsPerWindow: [Double], results: Int, statistics: Statistics?) {
    if let tracing = mode.tracing {
        var configuration = Configuration()
        configuration.logDirectory = logDirectory
        configuration.sampling = .probability(mode.sampling)
        configuration.mode = tracing
        configuration.readEnvironment = false
        configuration.ringSlots = 1 << 18
        try Spoor.start(configuration)
    }
    var flowConfiguration = DataflowConfiguration()
    flowConfiguration.parallelism = 2
    flowConfiguration.tracing = mode.tracing != nil
    let flow = Dataflow(flowConfiguration)
    let closes = Locked<[UInt64]>([])
    let results = Atomic<Int>(0)
    // Two source instances, each cutting its half of the sentences into windows of 10,000: the
    // dataflow's windows are 20,000 sentences.
    flow.source("sentences", text, parallelism: 2, windowing: .count(windowSize / 2))
        .flatMap("split") { $0.split(separator: " ").map(String.init) }
        .keyBy("pair") { KeyValue($0, 1) }
        .reduceByKey("count") { $0 + $1 }
        .sink("counts", onWindow: { _ in closes.withLock { $0.append(now()) } }) { _, _ in
            results.add(1, ordering: .relaxed)
        }
    let start = now()
    try flow.run()
    var statistics: Statistics?
    if mode.tracing != nil {
        try Spoor.flush(timeoutMilliseconds: 60_000)
        statistics = Spoor.statistics
        try Spoor.shutdown()
    }
    let stamps = [start] + closes.withLock { $0 }
    let perWindow = zip(stamps, stamps.dropFirst()).map { Double($1 - $0) / 1e9 }
    return (perWindow, results.load(ordering: .relaxed), statistics)
}

func emit(_ fields: [(String, String)]) {
    print("{" + fields.map { "\"\($0.0)\":\($0.1)" }.joined(separator: ",") + "}")
}

func quoted(_ text: String) -> String { "\"\(text)\"" }

/// The vocabulary and the sentences of one distribution, the same in every process.
func workload(_ distribution: String) -> (words: [String], text: [String]) {
    var generator = Generator(state: 20_191_008)
    let words = vocabulary(&generator)
    var textGenerator = Generator(state: distribution == "zipf" ? 0x2f1f : 0x0f1f)
    return (words, sentences(zipf: distribution == "zipf", words: words, count: windowSize * windows, &textGenerator))
}
let allModes: [Mode] = [
    Mode(name: "untraced", sampling: 0, tracing: nil),
    Mode(name: "direct", sampling: 0.0001, tracing: .direct),
    Mode(name: "direct", sampling: 0.005, tracing: .direct),
    Mode(name: "direct", sampling: 1, tracing: .direct),
    Mode(name: "piggyback", sampling: 0.0001, tracing: .piggyback),
    Mode(name: "piggyback", sampling: 0.005, tracing: .piggyback),
    Mode(name: "piggyback", sampling: 1, tracing: .piggyback),
]
/// Child: `--run <index> <distribution> <log directory>` runs mode `index` once and prints its
/// per-window seconds and the core's counters as one JSON object.
if let flag = CommandLine.arguments.firstIndex(of: "--run"), CommandLine.arguments.count > flag + 3,
   let index = Int(CommandLine.arguments[flag + 1]), allModes.indices.contains(index) {
    let (_, text) = workload(CommandLine.arguments[flag + 2])
    let run = try engineRun(text, mode: allModes[index], logDirectory: CommandLine.arguments[flag + 3])
    let windows = run.secondsPerWindow.map { String(format: $0) }.joined(separator: ",")
    print("{\"seconds\":[\(windows)],\"written\":\(run.statistics?.written ?? 0),\"dropped\":\(run.statistics?.dropped ?? 0),\"results\":\(run.results)}")
    exit(0)
}

struct ChildRun: Decodable {
    var seconds: [Double]
    var written: UInt64
    var dropped: UInt64
}

/// Runs mode `index` in a child process.
func childRun(_ index: Int, distribution: String, logDirectory: String) throws -> ChildRun {
    let child = Process()
    child.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
    child.arguments = (quick ? ["--quick"] : []) + ["--run", String(index), distribution, logDirectory]
    // The same hash seed in every run: dictionary layouts, and so their speed, do not vary
    // between the processes being compared.
    var environment = ProcessInfo.processInfo.environment
    environment["SWIFT_DETERMINISTIC_HASHING"] = "1"
    child.environment = environment
    let output = Pipe()
    child.standardOutput = output
    try child.run()
    let data = output.fileHandleForReading.readDataToEndOfFile()
    child.waitUntilExit()
    guard child.terminationStatus == 0 else {
        throw NSError(domain: "SpoorFigure4", code: Int(child.terminationStatus), userInfo: [NSLocalizedDescriptionKey: "run \(index) failed"])
    }
    return try JSONDecoder().decode(ChildRun.self, from: data)
}

// FIGURE4_MODES=direct:1,untraced:0 restricts the run (for profiling one configuration).
let selected = getenv("FIGURE4_MODES").map { String(cString: $0).split(separator: ",").map(String.init) }
let modeIndices = allModes.indices.filter { index in
    let mode = allModes[index]
    return selected.map { $0.contains("\(mode.name):\(mode.tracing == nil ? "0" : String(mode.sampling))") } ?? true
}
let modes = modeIndices.map { allModes[$0] }
var template = Array("/tmp/spoor-figure4-XXXXXX".utf8CString)
let logDirectory = template.withUnsafeMutableBufferPointer { buffer -> String in
    guard let base = buffer.baseAddress, mkdtemp(base) != nil else { return "/tmp/spoor-figure4" }
    return String(cString: base)
}

// FIGURE4_DISTRIBUTIONS=zipf restricts the run to one distribution.
let distributions = getenv("FIGURE4_DISTRIBUTIONS").map { String(cString: $0).split(separator: ",").map(String.init) } ?? ["uniform", "zipf"]
for distribution in distributions {
    let (_, text) = workload(distribution)
    let wordsPerSentence = Double(text.reduce(0) { $0 + $1.split(separator: " ").count }) / Double(text.count)

    // Per mode, the per-window times pooled over rounds, and each round's median (modes
    // interleaved within each round so that drift in the machine's speed hits them alike).
    var pooled = Array(repeating: [Double](), count: modes.count)
    var roundMedians = Array(repeating: [Double](), count: modes.count)
    var dropped = Array(repeating: UInt64(0), count: modes.count)
    var written = Array(repeating: UInt64(0), count: modes.count)
    var handTimes: [Double] = []
    for _ in 0..<rounds {
        handTimes += handLoop(text).secondsPerWindow.dropFirst(warmupWindows)
        for (index, modeIndex) in modeIndices.enumerated() {
            let run = try childRun(modeIndex, distribution: distribution, logDirectory: logDirectory)
            pooled[index] += run.seconds.dropFirst(warmupWindows)
            roundMedians[index].append(median(Array(run.seconds.dropFirst(warmupWindows))))
            dropped[index] += run.dropped
            written[index] += run.written
            _ = system("rm -rf '\(logDirectory)'/*")
        }
    }
    let untraced = median(pooled[0])
    for (index, mode) in modes.enumerated() {
        let value = median(pooled[index])
        // The ratio is the median over rounds of this mode's run against the untraced run of the
        // same round: a run that is slow as a whole (a process placed badly) moves one round's
        // ratio, not the result.
        let ratios = zip(roundMedians[index], roundMedians[0]).map { $1 > 0 ? $0 / $1 : 0 }
        emit([
            ("bench", quoted("figure4_wordcount")), ("unit", quoted("s/window")), ("mode", quoted(mode.name)),
            ("sampling", mode.tracing == nil ? "0" : String(mode.sampling)), ("distribution", quoted(distribution)),
            ("median", String(format: value)), ("p99", String(format: percentile(pooled[index], 0.99))),
            ("ratio", String(format: median(ratios))), ("ratio_of_pooled_medians", String(format: untraced > 0 ? value / untraced : 0)),
            ("round_ratios", "[" + ratios.map { String(format: $0) }.joined(separator: ",") + "]"), ("threads", "2"),
            ("windows", String(pooled[index].count)), ("window_sentences", String(windowSize)),
            ("reports_written", String(written[index])), ("reports_dropped", String(dropped[index])),
        ])
    }
    let handMedian = median(handTimes)
    emit([
        ("bench", quoted("wordcount_throughput")), ("unit", quoted("sentences/s")), ("mode", quoted("untraced")),
        ("distribution", quoted(distribution)), ("engine_median", String(format: Double(windowSize) / untraced)),
        ("hand_loop_median", String(format: Double(windowSize) / handMedian)),
        ("engine_to_hand_ratio", String(format: handMedian / untraced)), ("engine_threads", "2"), ("hand_loop_threads", "1"),
        ("words_per_sentence", String(format: wordsPerSentence)),
    ])
}
_ = system("rm -rf '\(logDirectory)'")

func String(format value: Double) -> String {
    let scaled = (value * 1_000_000).rounded() / 1_000_000
    return "\(scaled)"
}
