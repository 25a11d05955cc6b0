import SpoorABI
import Synchronization

/// An operator (a UDF, a stage, an engine step) as the reports name it.
public struct Operator: Sendable, Hashable {
    /// The id reports carry; 0 if tracing was not running when it was registered.
    public let id: UInt32
    /// The name.
    public let name: String

    /// Registers an operator named `name` at the caller's source location (interned: the same
    /// name and location give the same id). If tracing is not running the id is 0.
    public init(_ name: String, fileID: StaticString = #fileID, line: UInt = #line) {
        self.name = name
        self.id = Operator.register(name: name, callSite: "\(fileID):\(line)")
    }

    /// Registers an operator with an explicit call-site text.
    public init(_ name: String, callSite: String) {
        self.name = name
        self.id = Operator.register(name: name, callSite: callSite)
    }

    static func register(name: String, callSite: String) -> UInt32 {
        var id: UInt32 = 0
        let nameBytes = Array(name.utf8.prefix(Int(SPOOR_MAX_NAME_LEN)))
        let siteBytes = Array(callSite.utf8)
        let status = nameBytes.withUnsafeBufferPointer { namePointer in
            siteBytes.withUnsafeBufferPointer { sitePointer in
                namePointer.baseAddress.map { base in
                    base.withMemoryRebound(to: CChar.self, capacity: nameBytes.count) { name in
                        sitePointer.baseAddress.map { siteBase in
                            siteBase.withMemoryRebound(to: CChar.self, capacity: siteBytes.count) { site in
                                spoor_register_operator(name, nameBytes.count, site, siteBytes.count, &id)
                            }
                        } ?? spoor_register_operator(name, nameBytes.count, nil, 0, &id)
                    }
                } ?? SPOOR_E_INVALID_ARGUMENT
            }
        }
        return status == SPOOR_OK ? id : 0
    }

    /// The operator of a lift call site that named none: "file:line", registered once per run
    /// and found again through a lock-free table keyed by the static file name and line.
    @inline(never)
    @usableFromInline
    static func callSite(fileID: StaticString, line: UInt, kind: StaticString) -> UInt32 {
        CallSiteTable.shared.lookup(fileID: fileID, line: line, kind: kind)
    }
}

/// A fixed open-addressing table from (file, line) to operator id, valid for one library
/// generation (`spoor_generation()`). Readers never lock: each slot is a key word and a value
/// word written with release/acquire; a miss registers the operator (a locked, rare path in
/// libspoor.so) and publishes it.
///
/// `@unchecked Sendable`: every word is an `Atomic`, allocated once and never freed (the table
/// lives as long as the process).
final class CallSiteTable: @unchecked Sendable {
    static let shared = CallSiteTable()
    static let capacity = 4096
    let words: UnsafeMutablePointer<Atomic<UInt64>>

    init() {
        words = .allocate(capacity: 2 * Self.capacity)
        for index in 0..<(2 * Self.capacity) { (words + index).initialize(to: Atomic(0)) }
    }

    func lookup(fileID: StaticString, line: UInt, kind: StaticString) -> UInt32 {
        let generation = spoor_generation()
        guard generation != 0 else { return 0 }
        let address = UInt64(UInt(bitPattern: fileID.utf8Start))
        let key = (spoor__mix64(address ^ UInt64(line) &* 0x9e37_79b9_7f4a_7c15) | 1)
        var index = Int(truncatingIfNeeded: key) & (Self.capacity - 1)
        for _ in 0..<Self.capacity {
            let slotKey = words[2 * index].load(ordering: .acquiring)
            if slotKey == key {
                let value = words[2 * index + 1].load(ordering: .acquiring)
                if value >> 32 == generation & 0xffff_ffff, value & 0xffff_ffff != 0 {
                    return UInt32(truncatingIfNeeded: value)
                }
                return publish(at: index, fileID: fileID, line: line, kind: kind, generation: generation)
            }
            if slotKey == 0 {
                if words[2 * index].compareExchange(expected: 0, desired: key, ordering: .acquiringAndReleasing).exchanged {
                    return publish(at: index, fileID: fileID, line: line, kind: kind, generation: generation)
                }
                continue  // another thread took the slot: read it again
            }
            index = (index + 1) & (Self.capacity - 1)
        }
        return 0
    }

    private func publish(at index: Int, fileID: StaticString, line: UInt, kind: StaticString, generation: UInt64) -> UInt32 {
        let site = "\(fileID):\(line)"
        let id = Operator.register(name: "\(kind)@\(site)", callSite: site)
        if id != 0 { words[2 * index + 1].store((generation & 0xffff_ffff) << 32 | UInt64(id), ordering: .releasing) }
        return id
    }
}
