import ArgumentParser
import Foundation
import SpoorLog
import SpoorSkew
import SpoorPartitioning
import SpoorSupport

struct Skew: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Name the heavy keys of a run's operators and propose a partitioner that balances them.",
        discussion: """
            Reads the reports under DIR and, for every operator whose reports carry key hashes, \
            counts its output records' keys in a Space-Saving sketch (--counters counters, \
            optionally decaying with --half-life). For each operator it prints the keyed \
            records, the heaviest keys with their estimated share and the sketch's error bound \
            (any key's share is known to within it, and every key above it is listed), its \
            instances seen (partitions its writers set with spoor_set_partition) with their \
            records' largest over mean, and a plan over --partitions partitions (default: the \
            operator's instances seen, when more than one): the imbalance of plain hashing, \
            of the proposed hybrid partitioner (heavy keys placed, the rest hashed), the lower \
            bound no placement beats (the heaviest key's share times the partitions), the \
            share of records it moves, and the keys it places.

            -o FILE writes the partitioner of --operator (default: the operator whose plain \
            hashing is most imbalanced) as JSON for an engine to load (docs/skew.md); with \
            --previous FILE the plan keeps that partitioner's placements where they still \
            balance, so a rebuilt partitioner moves few keys. --json prints one JSON object \
            per operator instead of text.

            Shares, histograms and ratios estimated from sampled reports are unbiased when the \
            run used one sampling probability; counts scale by its inverse.
            """)

    @OptionGroup var log: LogSelection

    @Option(name: .customLong("operator"), help: ArgumentHelp("Only operators whose name (or \"name (call site)\") is this (repeatable).", valueName: "name"))
    var operators: [String] = []

    @Option(help: "Partitions to plan for (default: the operator's instances seen, if more than one).")
    var partitions: Int?

    @Option(help: "Keys listed per operator.")
    var top = 10

    @Option(help: "Counters per operator sketch (the error bound is at most 1/counters of the records).")
    var counters = 1_024

    @Option(name: .customLong("half-life"), help: ArgumentHelp("Decay: a record's weight halves every this many seconds of report time (default: no decay).", valueName: "seconds"))
    var halfLife: Double?

    @Option(name: .customLong("heavy-share"), help: "Place keys with at least this share (default 1/(4 partitions)).")
    var heavyShare: Double?

    @Option(help: "Balance tolerance: a heavy key stays where it was if its partition stays within (1 + this) of the fair share.")
    var tolerance = 0.05

    @Option(help: ArgumentHelp("A partitioner file a previous plan wrote: keep its placements where they still balance.", valueName: "file"))
    var previous: String?

    @Option(name: .shortAndLong, help: ArgumentHelp("Write the chosen operator's partitioner here as JSON.", valueName: "file"))
    var output: String?

    @Flag(help: "One JSON object per operator instead of text.")
    var json = false

    func validate() throws {
        if let partitions, partitions < 1 || partitions > HybridPartitioner.maximumPartitions {
            throw ValidationError("--partitions must be in 1...\(HybridPartitioner.maximumPartitions)")
        }
        if counters < 1 { throw ValidationError("--counters must be at least 1") }
        if top < 0 { throw ValidationError("--top must not be negative") }
        if let halfLife, !(halfLife > 0) { throw ValidationError("--half-life must be positive") }
        if let heavyShare, !(heavyShare > 0 && heavyShare <= 1) { throw ValidationError("--heavy-share must be in (0, 1]") }
        if !(tolerance >= 0) { throw ValidationError("--tolerance must not be negative") }
    }

    func run() throws {
        let halfLifeNanos = halfLife.map { UInt64(min($0 * 1e9, 1.8e19)) }
        var analysis = SkewAnalysis(capacity: counters, halfLifeNanos: halfLifeNanos)
        try reportingFailures {
            for run in try log.selectedRuns() {
                try readNamedReports(run) { report, name in analysis.add(report, operator: name) }
            }
        }
        let previousPartitioner = try previous.map { path -> HybridPartitioner in
            do {
                return try PartitionerFile.decode(Data(contentsOf: URL(fileURLWithPath: path))).partitioner
            } catch {
                warn("\(path): \(error)")
                throw ExitCode.failure
            }
        }
        var selected = analysis.operators.values.filter { $0.keyed > 0 }
        if !operators.isEmpty {
            selected = selected.filter { op in operators.contains { $0 == op.name || op.name.hasPrefix($0 + " (") } }
        }
        selected.sort { ($0.keyed, $1.name) > ($1.keyed, $0.name) }
        if selected.isEmpty {
            warn(operators.isEmpty ? "no reports with key hashes under \(log.directory)" : "no keyed reports of operator \(operators.joined(separator: ", "))")
            throw ExitCode.failure
        }
        var plans: [(op: SkewAnalysis.OperatorKeys, plan: PartitionPlan?)] = []
        for op in selected {
            let count = partitions ?? (op.instances.count > 1 ? op.instances.count : nil)
            let plan = count.map {
                PartitionPlanner.plan(op.sketch, partitions: $0, previous: previousPartitioner, heavyShare: heavyShare, tolerance: tolerance)
            }
            plans.append((op, plan))
        }
        var out = StandardOutput()
        for (op, plan) in plans {
            if json { write(op, plan, to: &out) } else { print(op, plan, to: &out) }
        }
        out.flush()
        if let output {
            let candidates = plans.filter { $0.plan != nil }
            guard let chosen = candidates.max(by: { ($0.plan!.imbalanceBefore, $1.op.name) < ($1.plan!.imbalanceBefore, $0.op.name) }) else {
                warn("no plan to write: give --partitions (no operator has more than one instance in its reports)")
                throw ExitCode.failure
            }
            if operators.isEmpty && candidates.count > 1 { warn("writing the partitioner of \(chosen.op.name) (the most imbalanced under hashing); --operator chooses") }
            do {
                try PartitionerFile.encode(chosen.plan!, operator: chosen.op.name, values: chosen.op.keyValues)
                    .write(to: URL(fileURLWithPath: output))
            } catch {
                warn("could not write \(output): \(error)")
                throw ExitCode.failure
            }
        }
    }

    private func percent(_ share: Double) -> String { String(format: "%.2f%%", share * 100) }

    private func print(_ op: SkewAnalysis.OperatorKeys, _ plan: PartitionPlan?, to out: inout StandardOutput) {
        let total = op.sketch.total()
        var text = "\(op.name): \(Int(op.keyed.rounded())) keyed records"
        if let observed = op.observedImbalance() {
            let count = op.instances.count
            text += String(format: "; %d instance%@ seen, their records largest/mean %.2f", count, count == 1 ? "" : "s", observed)
        }
        text += "\n  error bound \(percent(total > 0 ? op.sketch.errorBound() / total : 0)) (\(op.sketch.capacity) counters)\n"
        for (rank, counter) in op.sketch.counters().prefix(top).enumerated() {
            let value = op.keyValues[counter.key].map { " \(jsonString($0))" } ?? ""
            text += "  \(rank + 1). \(hex64(counter.key))\(value)  \(percent(counter.estimate / total)) (± \(percent(counter.error / total)))\n"
        }
        if let plan {
            text += String(format: "  plan over %d partitions: hashing %.2f -> hybrid %.2f (lower bound %.2f), %@ of records move, %d keys placed\n",
                           plan.partitioner.partitions, plan.imbalanceBefore, plan.imbalanceAfter, plan.imbalanceLowerBound,
                           percent(plan.migratedShare), plan.heavy.count)
            for key in plan.heavy.prefix(top) {
                let salts = key.salts > 1 ? ", salt over \(key.salts) partitions for a join" : ""
                text += "    \(hex64(key.key)) \(percent(key.share)): partition \(key.previousPartition) -> \(key.partition)\(salts)\n"
            }
        }
        out.json.bytes.append(contentsOf: text.utf8)
        out.flush()
    }

    private func write(_ op: SkewAnalysis.OperatorKeys, _ plan: PartitionPlan?, to out: inout StandardOutput) {
        let total = op.sketch.total()
        out.json.beginObject()
        out.json.string("operator", op.name)
        out.json.double("keyed_records", op.keyed)
        out.json.number("instances", op.instances.count)
        out.json.double("observed_imbalance", op.observedImbalance())
        out.json.number("counters", op.sketch.capacity)
        out.json.double("error_share", total > 0 ? op.sketch.errorBound() / total : 0)
        out.json.key("keys")
        out.json.beginArray()
        for counter in op.sketch.counters().prefix(top) {
            out.json.beginObject()
            out.json.hex("key_hash", counter.key)
            out.json.string("value", op.keyValues[counter.key])
            out.json.double("share", counter.estimate / total)
            out.json.double("error_share", counter.error / total)
            out.json.endObject()
        }
        out.json.endArray()
        out.json.key("plan")
        if let plan {
            out.json.beginObject()
            out.json.number("partitions", plan.partitioner.partitions)
            out.json.double("imbalance_hashing", plan.imbalanceBefore)
            out.json.double("imbalance_hybrid", plan.imbalanceAfter)
            out.json.double("imbalance_lower_bound", plan.imbalanceLowerBound)
            out.json.double("migrated_share", plan.migratedShare)
            out.json.double("heavy_threshold", plan.heavyThreshold)
            out.json.key("placed")
            out.json.beginArray()
            for key in plan.heavy {
                out.json.beginObject()
                out.json.hex("key_hash", key.key)
                out.json.double("share", key.share)
                out.json.number("from", key.previousPartition)
                out.json.number("to", key.partition)
                out.json.number("salts", key.salts)
                out.json.endObject()
            }
            out.json.endArray()
            out.json.endObject()
        } else {
            out.json.null()
        }
        out.json.endObject()
        out.endLine()
        out.flush()
    }
}
