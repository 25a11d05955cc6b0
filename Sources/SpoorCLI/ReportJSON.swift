import SpoorLog

/// What a report line needs to know about the segment it came from.
struct SegmentContext {
    /// The run directory name (`LogRun.name`).
    var runName: String
    /// The header of the segment being read, once one was read.
    var header: SegmentHeader?
    /// Operators of the segment's run id, by id.
    var operators: [UInt32: OperatorRecord] = [:]
}

/// Renders reports as JSON lines: one object per report, every field named, the same fields in
/// the same order on every line (docs/log-format.md, "spoor dump").
///
/// Ids and key hashes are 16-digit lowercase hex strings (64-bit values do not survive a JSON
/// number in most readers); times are integers in nanoseconds, with their UTC time beside them;
/// whatever was not recorded is `null`.
struct ReportJSONFormatter {
    /// Whether to add the fields that locate a report in the log (segment, ring, position,
    /// slots, flags): for debugging the log, not for reading lineage.
    var includeInternal = false

    /// Writes the JSON object of one report (without a newline).
    func write(_ report: Report, in context: SegmentContext, to out: inout JSONWriter) {
        let identity = context.header?.identity
        out.beginObject()
        out.string("run", context.runName)
        out.hex("run_id", identity?.runID)
        out.number("pid", identity?.pid)
        out.string("kind", report.kind.name)
        out.hex("id", report.id)
        out.number("fanout", report.fanout)
        out.key("parents")
        out.beginArray()
        for parent in report.parents { out.hex(parent) }
        out.endArray()
        out.number("op", report.op)
        let op = context.operators[report.op]
        out.string("operator", op?.name)
        out.string("call_site", op.flatMap { $0.callSite.isEmpty ? nil : $0.callSite })
        out.hex("key_hash", report.keyHash == 0 ? nil : report.keyHash)
        let start: UInt64? = report.startNanos == 0 ? nil : report.startNanos
        let end: UInt64? = report.endNanos == 0 ? nil : report.endNanos
        out.number("start_ns", start)
        out.utc("start_utc", start.flatMap { identity?.realtimeNanos(atMonotonic: $0) })
        out.number("end_ns", end)
        out.utc("end_utc", end.flatMap { identity?.realtimeNanos(atMonotonic: $0) })
        var duration: UInt64?
        if let start, let end, end >= start { duration = end - start }
        out.number("duration_ns", duration)
        out.number("thread", report.thread)
        out.number("partition", report.partition)
        out.string("event", report.event.map(PokeEvent.name(of:)))
        out.bool("fold", report.isFold)
        out.bool("truncated", report.isTruncated)
        out.key("attachment")
        out.beginArray()
        for attribute in report.attachment { out.attribute(attribute) }
        out.endArray()
        if includeInternal {
            out.number("segment", context.header?.index)
            out.number("ring", report.ring)
            out.number("pos", report.position)
            let attachmentBytes = report.attachment.reduce(0) { $0 + 3 + $1.key.count + $1.value.count }
            out.number("slots", ReportLayout.slotCount(parentCount: report.parents.count, attachmentLength: attachmentBytes))
            out.number("flags", report.flags)
        }
        out.endObject()
    }
}
