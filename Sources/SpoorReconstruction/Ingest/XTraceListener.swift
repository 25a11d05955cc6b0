#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
#if !SPOOR_SINGLE_MODULE
import SpoorSupport
#endif

/// Where `TraceInput.xTraceListen` listens, and for how long.
public struct XTraceEndpoint: Sendable, Hashable {
    /// The TCP port on 127.0.0.1 (0: any free port, announced through `LiveControl.listening`).
    public var port: UInt16
    /// End the input after this many connections have closed (0: only when `LiveControl.stop`
    /// says so).
    public var connections: Int

    /// An endpoint.
    public init(port: UInt16, connections: Int = 0) {
        self.port = port
        self.connections = connections
    }
}

/// How a live input (a TCP listener) is driven by its caller.
public struct LiveControl {
    /// Polled about every 100 ms: true ends the input (a signal asked the command to stop).
    public var stop: () -> Bool
    /// Called once with `host:port` when the listener is bound.
    public var listening: (String) -> Void
    /// Called about every 100 ms while the input waits, with the stream's labels (so that the
    /// caller can expire traces when no item arrives).
    public var idle: (LabelTable) -> Void

    /// Hooks; by default the input ends only by its connection count.
    public init(stop: @escaping () -> Bool = { false }, listening: @escaping (String) -> Void = { _ in },
                idle: @escaping (LabelTable) -> Void = { _ in }) {
        self.stop = stop
        self.listening = listening
        self.idle = idle
    }
}

/// Accepts X-Trace text reports over TCP on 127.0.0.1 (the Altair paper's collectors receive
/// them the same way): any number of concurrent connections, each a stream of reports parsed line
/// by line by its own `XTraceParser` (errors name the connection and the line), in one thread
/// with poll(2). A connection's last report is emitted when it closes. Asked to stop, it still
/// takes what has arrived: the connections waiting to be accepted and the bytes buffered.
struct XTraceListener {
    let endpoint: XTraceEndpoint

    private struct Connection {
        var descriptor: Int32
        var parser: XTraceParser
        var pending: [UInt8] = []
    }

    func run(
        labels: inout LabelTable, control: LiveControl, issue: (IngestError) -> Void, item: (TraceItem, LabelTable) -> Void
    ) throws {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard listener >= 0 else { throw IngestError(source: "tcp", line: 0, message: "socket: \(errnoText(errno))") }
        defer { close(listener) }
        var yes: Int32 = 1
        setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = endpoint.port.bigEndian
        address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(listener, 64) == 0 else {
            throw IngestError(source: "tcp:127.0.0.1:\(endpoint.port)", line: 0, message: "cannot listen: \(errnoText(errno))")
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) }
        }
        let port = UInt16(bigEndian: address.sin_port)
        control.listening("127.0.0.1:\(port)")

        var connections: [Connection] = []
        var accepted = 0, closed = 0
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        func finish(_ index: Int, labels: inout LabelTable) {
            processLines(&connections[index], final: true, labels: &labels, issue: issue, item: item)
            connections[index].parser.finish(labels: &labels, issue: issue, item: item)
            close(connections[index].descriptor)
            connections.remove(at: index)
            closed += 1
        }
        defer { for connection in connections { close(connection.descriptor) } }
        while !(endpoint.connections > 0 && closed >= endpoint.connections) && !control.stop() {
            var polled = [pollfd(fd: listener, events: Int16(POLLIN), revents: 0)]
            polled += connections.map { pollfd(fd: $0.descriptor, events: Int16(POLLIN), revents: 0) }
            let ready = poll(&polled, nfds_t(polled.count), 100)
            if ready < 0 && errno != EINTR { throw IngestError(source: "tcp:127.0.0.1:\(port)", line: 0, message: "poll: \(errnoText(errno))") }
            if ready <= 0 {
                control.idle(labels)
                continue
            }
            // Clients first (from the end, so that removals keep the indices valid), then accept.
            for index in stride(from: connections.count - 1, through: 0, by: -1) where polled[index + 1].revents != 0 {
                let got = buffer.withUnsafeMutableBytes { read(connections[index].descriptor, $0.baseAddress, $0.count) }
                if got > 0 {
                    connections[index].pending += buffer[0..<got]
                    processLines(&connections[index], final: false, labels: &labels, issue: issue, item: item)
                } else if got == 0 || (errno != EINTR && errno != EAGAIN) {
                    finish(index, labels: &labels)
                }
            }
            if polled[0].revents & Int16(POLLIN) != 0 {
                let client = accept(listener, nil, nil)
                if client >= 0 {
                    _ = fcntl(client, F_SETFD, FD_CLOEXEC)
                    accepted += 1
                    connections.append(Connection(descriptor: client, parser: XTraceParser(source: "tcp:127.0.0.1:\(port)#\(accepted)")))
                }
            }
            control.idle(labels)
        }
        // Asked to stop: what already arrived is not lost. Accept the connections waiting, read
        // what every connection has buffered (without waiting for more), then end them.
        var waiting = [pollfd(fd: listener, events: Int16(POLLIN), revents: 0)]
        while poll(&waiting, 1, 0) > 0 && waiting[0].revents & Int16(POLLIN) != 0 {
            let client = accept(listener, nil, nil)
            guard client >= 0 else { break }
            accepted += 1
            connections.append(Connection(descriptor: client, parser: XTraceParser(source: "tcp:127.0.0.1:\(port)#\(accepted)")))
        }
        for index in connections.indices {
            var ready = [pollfd(fd: connections[index].descriptor, events: Int16(POLLIN), revents: 0)]
            while poll(&ready, 1, 0) > 0 {
                let got = buffer.withUnsafeMutableBytes { read(connections[index].descriptor, $0.baseAddress, $0.count) }
                guard got > 0 else { break }
                connections[index].pending += buffer[0..<got]
                processLines(&connections[index], final: false, labels: &labels, issue: issue, item: item)
            }
        }
        while !connections.isEmpty { finish(connections.count - 1, labels: &labels) }
    }

    /// Feeds the complete lines of `connection.pending` (and with `final` the rest) to its parser.
    private func processLines(
        _ connection: inout Connection, final: Bool, labels: inout LabelTable, issue: (IngestError) -> Void,
        item: (TraceItem, LabelTable) -> Void
    ) {
        var start = 0
        // Taken out, so that keeping the unfinished line copies only that line.
        let bytes = connection.pending
        connection.pending = []
        for index in bytes.indices where bytes[index] == 0x0a {
            var end = index
            if end > start && bytes[end - 1] == 0x0d { end -= 1 }
            connection.parser.feed(line: String(decoding: bytes[start..<end], as: UTF8.self)[...], labels: &labels, issue: issue, item: item)
            start = index + 1
        }
        // The rest at the end of the stream, or a line longer than any report's (1 MiB): fed as
        // it is (the parser reports it if it is malformed), so that memory stays bounded.
        if start < bytes.count && (final || bytes.count - start > 1 << 20) {
            connection.parser.feed(line: String(decoding: bytes[start...], as: UTF8.self)[...], labels: &labels, issue: issue, item: item)
            start = bytes.count
        }
        connection.pending = Array(bytes[start...])
    }
}
