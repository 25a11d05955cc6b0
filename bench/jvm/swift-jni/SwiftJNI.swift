// The Swift variant of two JNI native methods, for bench/jvm/swift-jni/run.sh (not shipped).
import CSpoorH

@_cdecl("Java_io_spoor_SwiftNative_noop")
public func swiftNoop(_ env: OpaquePointer?, _ cls: OpaquePointer?, _ op: Int32, _ key: Int64) -> Int64 {
    Int64(bitPattern: (UInt64(bitPattern: key) ^ UInt64(UInt32(bitPattern: op))) | (1 << 63))
}

@_cdecl("Java_io_spoor_SwiftNative_checkpoint1")
public func swiftCheckpoint1(
    _ env: OpaquePointer?, _ cls: OpaquePointer?, _ parent: Int64, _ op: Int32, _ key: Int64, _ start: Int64, _ end: Int64
) -> Int64 {
    var id: UInt64 = 0
    let status = spoor_checkpoint1(
        UInt64(bitPattern: parent), UInt32(bitPattern: op), UInt64(bitPattern: key), UInt64(bitPattern: start),
        UInt64(bitPattern: end), &id)
    return status < 0 ? 0 : Int64(bitPattern: id)
}
