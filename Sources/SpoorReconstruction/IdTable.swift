/// A hash table from 64-bit ids to `Int32` (trace ids to open slots, event keys to node indices):
/// the hot maps of reconstruction, where `Dictionary`'s per-lookup SipHash was a fifth of the
/// time per event. Open addressing with linear probing and Fibonacci hashing (multiply by 2^64/φ,
/// keep the top bits), load at most one half; removal shifts the probe run back (no tombstones);
/// `removeAll` is O(1): a slot is occupied only if its stamp is the current generation.
///
/// Keys are not secret-keyed: an adversary who chooses ids can make probe runs long (as with any
/// unkeyed hash). Ids here come from the traced systems and from splitmix-derived trace ids.
struct IdTable: Sendable {
    private var keys: [UInt64] = []
    private var values: [Int32] = []
    private var stamps: [UInt32] = []
    private var generation: UInt32 = 1
    private var mask = 0
    private var shift: UInt64 = 64
    /// Entries held.
    private(set) var count = 0

    init() {}

    @inline(__always)
    private func home(_ key: UInt64) -> Int {
        Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> shift) & mask
    }

    /// The value of `key`; setting nil removes it.
    subscript(key: UInt64) -> Int32? {
        get {
            guard count > 0 else { return nil }
            var slot = home(key)
            while stamps[slot] == generation {
                if keys[slot] == key { return values[slot] }
                slot = (slot &+ 1) & mask
            }
            return nil
        }
        set {
            if let newValue { insert(key, newValue) } else { remove(key) }
        }
    }

    private mutating func insert(_ key: UInt64, _ value: Int32) {
        if (count + 1) * 2 > keys.count { grow() }
        var slot = home(key)
        while stamps[slot] == generation {
            if keys[slot] == key {
                values[slot] = value
                return
            }
            slot = (slot &+ 1) & mask
        }
        keys[slot] = key
        values[slot] = value
        stamps[slot] = generation
        count += 1
    }

    private mutating func remove(_ key: UInt64) {
        guard count > 0 else { return }
        var hole = home(key)
        while stamps[hole] == generation && keys[hole] != key { hole = (hole &+ 1) & mask }
        guard stamps[hole] == generation else { return }
        stamps[hole] = 0
        count -= 1
        // Move back every later entry of the run whose home is not between the hole and itself.
        var next = hole
        while true {
            next = (next &+ 1) & mask
            guard stamps[next] == generation else { return }
            let wanted = home(keys[next])
            let staysPut = hole <= next ? (wanted > hole && wanted <= next) : (wanted > hole || wanted <= next)
            if !staysPut {
                keys[hole] = keys[next]
                values[hole] = values[next]
                stamps[hole] = generation
                stamps[next] = 0
                hole = next
            }
        }
    }

    /// Empties the table, keeping its storage.
    mutating func removeAll() {
        count = 0
        generation &+= 1
        if generation == 0 {
            for slot in stamps.indices { stamps[slot] = 0 }
            generation = 1
        }
    }

    private mutating func grow() {
        let oldKeys = keys, oldValues = values, oldStamps = stamps, oldGeneration = generation
        let size = max(16, keys.count * 2)
        keys = [UInt64](repeating: 0, count: size)
        values = [Int32](repeating: 0, count: size)
        stamps = [UInt32](repeating: 0, count: size)
        mask = size - 1
        shift = UInt64(64 - size.trailingZeroBitCount)
        generation = 1
        count = 0
        for slot in oldKeys.indices where oldStamps[slot] == oldGeneration { insert(oldKeys[slot], oldValues[slot]) }
    }

    #if DEBUG || SPOOR_SINGLE_MODULE
    /// Checks that every entry is reachable from its home slot and the count is right.
    func _checkInvariants() {
        var occupied = 0
        for slot in stamps.indices where stamps[slot] == generation {
            occupied += 1
            var probe = home(keys[slot])
            while probe != slot {
                precondition(stamps[probe] == generation, "a gap between an entry and its home slot")
                probe = (probe &+ 1) & mask
            }
        }
        precondition(occupied == count, "count \(count), occupied \(occupied)")
        precondition(keys.isEmpty || count * 2 <= keys.count, "load above one half")
    }
    #endif
}
