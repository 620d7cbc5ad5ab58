import Net
import Storage

/// Makes a revocation take effect on every replica within about a second: once a second it
/// asks the database for keys revoked in the last 10 s and evicts them from every loop's cache
/// (a key fetched just before its revocation is caught by a later poll of the same window).
final class KeyRevocationWatcher: Sendable {
    let authenticator: KeyAuthenticator
    let group: EventLoopGroup
    static let windowMilliseconds: Int64 = 10_000

    init(authenticator: KeyAuthenticator, group: EventLoopGroup) {
        self.authenticator = authenticator
        self.group = group
    }

    func start(on loop: EventLoop) {
        loop.execute { [self] in
            var polling = false
            loop.onTick { [self] in
                guard !polling else { return }
                polling = true
                authenticator.store.revokedKeyHashes(since: Store.now - KeyRevocationWatcher.windowMilliseconds, on: loop) { [self] result in
                    polling = false
                    guard case .success(let hashes) = result, !hashes.isEmpty else { return }
                    for target in group.loops {
                        target.execute { [self] in authenticator.evict(hashes, on: target) }
                    }
                }
            }
        }
    }
}
