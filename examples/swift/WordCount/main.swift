// A traced streaming word count on SpoorDataflow.
//
// Sentences stream from a source in tumbling windows of 2,000; they are split into words,
// paired with 1 and counted per window with reduceByKey (a map-side combiner pre-aggregates
// before the shuffle). Tracing is switched on with no change to the pipeline: Spoor samples 5%
// of the sentences at the source, and every sampled sentence's words and the window counts they
// contribute to are reported. `spoor dump` on the printed run directory shows the trace.
//
// Usage: WordCount [LOG_DIR]   (SPOOR_SAMPLING=all and friends override the sampling)
#if canImport(Glibc)
import Glibc
#endif
import Spoor
import SpoorDataflow

let logDirectory = CommandLine.arguments.dropFirst().first ?? "spoor-traces"

var configuration = Configuration()
configuration.logDirectory = logDirectory
configuration.sampling = .probability(0.05)
configuration.mode = .direct
do {
    try Spoor.start(configuration)
} catch {
    print("cannot start tracing: \(error)")
    exit(1)
}

// A deterministic stream of sentences over a small vocabulary, with a few heavy words.
let vocabulary = ["spark", "flink", "swift", "trace", "record", "lineage", "window", "shuffle", "key", "skew",
                  "udf", "sample", "ring", "collector", "sink", "partition", "operator", "stage", "batch", "stream"]
func makeSentences(_ count: Int) -> [String] {
    var state: UInt64 = 7
    func nextRandom() -> Int {
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return Int(state >> 33)
    }
    return (0..<count).map { _ in
        (0..<(3 + nextRandom() % 8)).map { _ in
            nextRandom() % 4 == 0 ? "spark" : vocabulary[nextRandom() % vocabulary.count]
        }.joined(separator: " ")
    }
}
let sentences = makeSentences(10_000)

var flowConfiguration = DataflowConfiguration()
flowConfiguration.parallelism = 2
flowConfiguration.tracing = true
let flow = Dataflow(flowConfiguration)
let topWords = Locked<[UInt64: [(String, Int)]]>([:])
flow.source("sentences", sentences, windowing: .count(2_000)) { $0.traceKeyHash }
    .flatMap("split") { $0.split(separator: " ").map(String.init) }
    .keyBy("pair") { KeyValue($0, 1) }
    .reduceByKey("count") { $0 + $1 }
    .sink("top-words", onWindow: { window in
        let top = topWords.withLock { $0[window, default: []] }.sorted { $0.1 > $1.1 }.prefix(3)
        print("window \(window): " + top.map { "\($0.0)=\($0.1)" }.joined(separator: " "))
    }) { record, window in
        topWords.withLock { $0[window, default: []].append((record.value.key, record.value.value)) }
    }
do {
    try flow.run()
    try Spoor.flush()
} catch {
    print("word count failed: \(error)")
    exit(1)
}
let statistics = Spoor.statistics
print("reports written: \(statistics?.written ?? 0), dropped: \(statistics?.dropped ?? 0), entries sampled: \(statistics?.sampled ?? 0)")
print("run directory: \(Spoor.runDirectory ?? "(none)")")
try? Spoor.shutdown()
