#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Synchronization

/// Set by SIGTERM and SIGINT: the one home of the tool's clean shutdown. Long-running commands
/// (`spoor collect`, a live X-Trace input) poll it, finish what they are doing and exit.
private let stopRequested = Atomic<Bool>(false)

enum StopSignal {
    /// Whether SIGTERM or SIGINT arrived since `install`.
    static var isRequested: Bool { stopRequested.load(ordering: .relaxed) }

    /// Installs the handlers (and ignores SIGPIPE: a reader that went away is an error from
    /// write, not a signal). A parent may have started this process with the signals blocked:
    /// they are unblocked.
    static func install() {
        signal(SIGTERM) { _ in stopRequested.store(true, ordering: .relaxed) }
        signal(SIGINT) { _ in stopRequested.store(true, ordering: .relaxed) }
        signal(SIGPIPE, SIG_IGN)
        var unblock = sigset_t()
        sigemptyset(&unblock)
        sigaddset(&unblock, SIGTERM)
        sigaddset(&unblock, SIGINT)
        pthread_sigmask(SIG_UNBLOCK, &unblock, nil)
    }
}
