#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A bounded multi-producer queue between stage instances: `push` blocks while it is full
/// (backpressure reaches the sources), `pop` blocks while it is empty. Elements are batches of
/// records, so the lock is taken once per batch, not per record.
@usableFromInline
final class BoundedQueue<Element>: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let notEmpty = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private let notFull = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var buffer: [Element?]
    private var head = 0
    private var count = 0
    /// Times a producer found the queue full and waited.
    private(set) var fullWaits = 0

    @usableFromInline
    init(capacity: Int) {
        buffer = Array(repeating: nil, count: max(capacity, 1))
        mutex.initialize(to: pthread_mutex_t())
        notEmpty.initialize(to: pthread_cond_t())
        notFull.initialize(to: pthread_cond_t())
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(notEmpty, nil)
        pthread_cond_init(notFull, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        pthread_cond_destroy(notEmpty)
        pthread_cond_destroy(notFull)
        mutex.deallocate()
        notEmpty.deallocate()
        notFull.deallocate()
    }

    @usableFromInline
    func push(_ element: Element) {
        pthread_mutex_lock(mutex)
        if count == buffer.count { fullWaits += 1 }
        while count == buffer.count { pthread_cond_wait(notFull, mutex) }
        buffer[(head + count) % buffer.count] = element
        count += 1
        pthread_cond_signal(notEmpty)
        pthread_mutex_unlock(mutex)
    }

    func pop() -> Element {
        pthread_mutex_lock(mutex)
        while count == 0 { pthread_cond_wait(notEmpty, mutex) }
        let element = buffer[head]
        buffer[head] = nil
        head = (head + 1) % buffer.count
        count -= 1
        pthread_cond_signal(notFull)
        pthread_mutex_unlock(mutex)
        // Every slot between head and head + count holds an element.
        return element.unsafelyUnwrapped
    }
}

/// Runs `body` on a new OS thread; `join` waits for it. The thread first waits at `gate`, so
/// that a dataflow whose threads did not all start can tell the started ones to return without
/// running (a stage missing its consumer would otherwise block forever).
final class WorkerThread: @unchecked Sendable {
    private var thread = pthread_t()
    private final class Box {
        let body: () -> Void
        let gate: StartGate
        init(_ body: @escaping () -> Void, gate: StartGate) {
            self.body = body
            self.gate = gate
        }
    }

    private init() {}

    /// Starts the thread (with `stackBytes` of stack, 0: the system default), or returns the
    /// pthread error code.
    static func start(gate: StartGate, stackBytes: Int, _ body: @escaping () -> Void) -> Result<WorkerThread, WorkerThreadError> {
        let worker = WorkerThread()
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        defer { pthread_attr_destroy(&attributes) }
        if stackBytes > 0 {
            let status = pthread_attr_setstacksize(&attributes, stackBytes)
            if status != 0 { return .failure(WorkerThreadError(code: status)) }
        }
        let box = Unmanaged.passRetained(Box(body, gate: gate)).toOpaque()
        let result = pthread_create(&worker.thread, &attributes, { raw in
            guard let raw else { return nil }
            let box = Unmanaged<Box>.fromOpaque(raw).takeRetainedValue()
            if box.gate.waitForGo() { box.body() }
            return nil
        }, box)
        if result != 0 {
            Unmanaged<Box>.fromOpaque(box).release()
            return .failure(WorkerThreadError(code: result))
        }
        return .success(worker)
    }

    func join() {
        pthread_join(thread, nil)
    }
}

/// A thread that could not start: the pthread error code.
struct WorkerThreadError: Error {
    var code: Int32
}

/// Holds a dataflow's threads until every one of them has started, then lets them all run, or
/// tells them all to return.
final class StartGate: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let opened = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    /// nil until decided; then whether to run.
    private var decision: Bool?

    init() {
        mutex.initialize(to: pthread_mutex_t())
        opened.initialize(to: pthread_cond_t())
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(opened, nil)
    }

    deinit {
        pthread_cond_destroy(opened)
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
        opened.deallocate()
    }

    /// Decides for every waiting and future thread.
    func open(run: Bool) {
        pthread_mutex_lock(mutex)
        decision = run
        pthread_cond_broadcast(opened)
        pthread_mutex_unlock(mutex)
    }

    /// Waits for the decision; true: run the body.
    func waitForGo() -> Bool {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        while decision == nil { pthread_cond_wait(opened, mutex) }
        return decision ?? false
    }
}

/// A lock around shared state of the engine (window bookkeeping, collected records, the current
/// partitioner). A pthread mutex rather than `Synchronization.Mutex`: ThreadSanitizer intercepts
/// pthread locks, so the engine's threads can be checked under it.
public final class Locked<State>: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private var state: State

    /// A lock around `state`.
    public init(_ state: State) {
        self.state = state
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    /// Runs `body` with the state, under the lock.
    public func withLock<R>(_ body: (inout State) throws -> R) rethrows -> R {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&state)
    }
}
