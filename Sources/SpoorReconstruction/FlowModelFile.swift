import Foundation
#if !SPOOR_SINGLE_MODULE
import SpoorSupport
#endif

/// A flow model saved as JSON (`spoor flows learn -o FILE`), loaded by `spoor flows detect`.
/// Hashes are 16 hex digits (JSON numbers lose 64-bit precision in many readers). The format:
///
///     {"format": "spoor-flow-model", "version": 1,
///      "settings": {"slack": 2, "tail_quantile": 0.999, "floor_nanos": 1000000,
///                   "minimum_timing_samples": 5, "bloom_false_positive_rate": 0.001},
///      "names": {"<label hash>": "<label>", ...},
///      "flows": [{"signature": "...", "count": 49, "variants": {"<exact>": 3, ...},
///                 "labels": ["<hash>", ...], "edges": [["<parent>", "<child>"], ...],
///                 "end_to_end": {"count": 49, "maximum": 123, "sample": [...]},
///                 "steps": [{"shape": "...", "label": "...", "parent": "...",
///                            "latency": {...}}, ...],
///                 "example": "<trace id>", "example_events": 199}, ...]}
///
/// Thresholds and the Bloom filter are computed again when a model is loaded (`finish`).
public enum FlowModelFile {
    struct File: Codable {
        var format: String
        var version: Int
        var settings: Settings
        var names: [String: String]
        var flows: [Flow]
    }

    struct Settings: Codable {
        var slack: Double
        var tail_quantile: Double
        var floor_nanos: UInt64
        var minimum_timing_samples: Int
        var bloom_false_positive_rate: Double
    }

    struct Profile: Codable {
        var count: Int
        var maximum: UInt64
        var sample: [UInt64]
    }

    struct Step: Codable {
        var shape: String
        var label: String
        var parent: String
        var latency: Profile
    }

    struct Flow: Codable {
        var signature: String
        var count: Int
        var variants: [String: Int]
        var labels: [String]
        var edges: [[String]]
        var end_to_end: Profile
        var steps: [Step]
        var example: String
        var example_events: Int
    }

    /// A model as JSON bytes.
    public static func encode(_ model: FlowModel) throws -> [UInt8] {
        func profile(_ p: LatencyProfile) -> Profile { Profile(count: p.count, maximum: p.maximum, sample: p.sample) }
        let flows = model.flows.values.sorted { ($0.count, $1.signature) > ($1.count, $0.signature) }.map { flow in
            Flow(signature: hex64(flow.signature), count: flow.count,
                 variants: Dictionary(uniqueKeysWithValues: flow.variants.map { (hex64($0.key), $0.value) }),
                 labels: flow.features.labels.sorted().map(hex64),
                 edges: flow.features.edges.sorted().map { [hex64($0.parent), hex64($0.child)] },
                 end_to_end: profile(flow.endToEnd),
                 steps: flow.steps.sorted { $0.key < $1.key }.map {
                     Step(shape: hex64($0.key), label: hex64($0.value.label), parent: hex64($0.value.parentLabel), latency: profile($0.value.latency))
                 },
                 example: hex64(flow.example), example_events: flow.exampleEvents)
        }
        let file = File(
            format: "spoor-flow-model", version: 1,
            settings: Settings(slack: model.slack, tail_quantile: model.tailQuantile, floor_nanos: model.floorNanos,
                               minimum_timing_samples: model.minimumTimingSamples,
                               bloom_false_positive_rate: model.bloomFalsePositiveRate),
            names: Dictionary(uniqueKeysWithValues: model.names.map { (hex64($0.key), $0.value) }), flows: flows)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return Array(try encoder.encode(file))
    }

    /// Reads a model from JSON bytes and finishes it (thresholds, Bloom filter).
    public static func decode(_ bytes: [UInt8], source: String) throws -> FlowModel {
        let file: File
        do {
            file = try JSONDecoder().decode(File.self, from: Data(bytes))
        } catch {
            throw IngestError(source: source, line: 0, message: "not a Spoor flow model: \(error)")
        }
        guard file.format == "spoor-flow-model", file.version == 1 else {
            throw IngestError(source: source, line: 0, message: "not a version 1 spoor-flow-model file")
        }
        func number(_ text: String) throws -> UInt64 {
            guard let value = UInt64(text, radix: 16) else {
                throw IngestError(source: source, line: 0, message: "'\(text.prefix(40))' is not a 64-bit hex value")
            }
            return value
        }
        func profile(_ p: Profile) -> LatencyProfile {
            var made = LatencyProfile()
            for value in p.sample.prefix(LatencyProfile.reservoirSize) { made.record(value) }
            made.restore(count: max(p.count, made.count), maximum: max(p.maximum, made.maximum))
            return made
        }
        var model = FlowModel(slack: file.settings.slack, tailQuantile: file.settings.tail_quantile,
                              floorNanos: file.settings.floor_nanos, minimumTimingSamples: file.settings.minimum_timing_samples,
                              bloomFalsePositiveRate: file.settings.bloom_false_positive_rate)
        var names: [UInt64: String] = [:]
        for (key, name) in file.names { names[try number(key)] = name }
        for flow in file.flows {
            var variants: [UInt64: Int] = [:]
            for (key, count) in flow.variants { variants[try number(key)] = count }
            var edges = Set<EdgeType>()
            for pair in flow.edges {
                guard pair.count == 2 else { throw IngestError(source: source, line: 0, message: "an edge is a pair of hashes") }
                edges.insert(EdgeType(parent: try number(pair[0]), child: try number(pair[1])))
            }
            var steps: [UInt64: FlowStep] = [:]
            for step in flow.steps {
                steps[try number(step.shape)] = FlowStep(label: try number(step.label), parentLabel: try number(step.parent),
                                                         latency: profile(step.latency))
            }
            let made = RepresentativeFlow(
                signature: try number(flow.signature), count: flow.count, variants: variants,
                features: FlowFeatures(labels: Set(try flow.labels.map(number)), edges: edges),
                endToEnd: profile(flow.end_to_end), steps: steps, example: try number(flow.example),
                exampleEvents: flow.example_events)
            model.add(made, names: names)
        }
        model.finish()
        return model
    }
}
