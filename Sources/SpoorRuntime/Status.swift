import CSpoor

/// The status and error codes of the C ABI (include/spoor.h).
enum Status {
    static let ok: Int32 = 0
    static let dropped: Int32 = 1
    static let invalidArgument: Int32 = -1
    static let notInitialized: Int32 = -2
    static let alreadyInitialized: Int32 = -3
    static let abiMismatch: Int32 = -4
    static let invalidConfig: Int32 = -5
    static let sharedMemory: Int32 = -6
    static let tooManyParents: Int32 = -7
    static let attachmentTooLarge: Int32 = -8
    static let reportTooLarge: Int32 = -9
    static let tooManyOperators: Int32 = -10
    static let bufferTooSmall: Int32 = -11
    static let parse: Int32 = -12
    static let io: Int32 = -13
    static let timeout: Int32 = -14
    static let noMemory: Int32 = -15

    /// The static, NUL-terminated description of a code.
    static func description(of code: Int32) -> StaticString {
        switch code {
        case ok: "success"
        case dropped: "report dropped and counted in stats.dropped (spoor_error_detail() names the cause)"
        case invalidArgument: "invalid argument"
        case notInitialized: "spoor is not initialized (spoor_init not called, shut down, or forked child)"
        case alreadyInitialized: "spoor is already initialized"
        case abiMismatch: "caller was compiled against a different SPOOR_ABI_VERSION"
        case invalidConfig: "invalid configuration"
        case sharedMemory: "shared-memory segment could not be created or mapped"
        case tooManyParents: "more parents than SPOOR_MAX_PARENTS"
        case attachmentTooLarge: "attachment larger than SPOOR_MAX_ATTACHMENT or key longer than 255 bytes"
        case reportTooLarge: "report larger than a quarter of a ring (raise ring_slots)"
        case tooManyOperators: "operator table full (SPOOR_MAX_OPERATORS)"
        case bufferTooSmall: "output buffer too small"
        case parse: "malformed input (a context, or a partitioner file)"
        case io: "log directory could not be created or written"
        case timeout: "timed out"
        case noMemory: "out of memory"
        default: "unknown spoor status"
        }
    }
}

/// Records `detail` as the calling thread's last failure and returns `code`.
@discardableResult
func fail(_ code: Int32, _ detail: String) -> Int32 {
    let buffer = spoorint_error_detail_buffer()
    let capacity = Int(SPOORINT_DETAIL_CAPACITY) - 1
    var length = 0
    for byte in detail.utf8 {
        if length == capacity { break }
        buffer[length] = CChar(bitPattern: byte)
        length += 1
    }
    buffer[length] = 0
    return code
}
