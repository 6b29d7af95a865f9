/// Where and when an agent reconnects: walks its list of server addresses (the next one after
/// every connection that ended) and turns a ``ReconnectAdvice`` into a delay with a
/// ``ReconnectBackoff``.
///
/// A drain moves to the next address at once. So that a fleet of draining servers cannot keep an
/// agent hopping without pause, at most one immediate reconnect per address is made in a row;
/// after that the backoff applies until a session is established again.
public struct ReconnectPlanner<Address: Sendable>: Sendable {
    /// The server addresses, in the order they are tried.
    public let addresses: [Address]
    /// The index in ``addresses`` of the address to connect to now.
    public private(set) var index: Int = 0
    /// The backoff used for failures.
    public private(set) var backoff: ReconnectBackoff
    private var immediateReconnectsInARow = 0

    /// - Parameters:
    ///   - addresses: The server addresses; the first is tried first.
    ///   - backoff: The backoff for failures (200 ms base, 30 s cap by default).
    /// - Returns: `nil` when `addresses` is empty.
    public init?(addresses: [Address], backoff: ReconnectBackoff = ReconnectBackoff()) {
        guard !addresses.isEmpty else {
            return nil
        }
        self.addresses = addresses
        self.backoff = backoff
    }

    /// The address to connect to now.
    public var currentAddress: Address {
        self.addresses[self.index]
    }

    /// A session was established (WELCOME): the backoff starts over.
    public mutating func sessionEstablished() {
        self.backoff.reset()
        self.immediateReconnectsInARow = 0
    }

    /// The connection ended: moves to the next address and says how long to wait first.
    ///
    /// - Parameters:
    ///   - advice: The agent state machine's advice (``AgentSessionStateMachine/Action/reconnect(_:)``).
    ///   - rng: The random number generator for the jitter.
    /// - Returns: The address to connect to and the delay before connecting, or `nil` for
    ///   ``ReconnectAdvice/stop``.
    public mutating func next(
        after advice: ReconnectAdvice,
        using rng: inout some RandomNumberGenerator
    ) -> (address: Address, delay: Duration)? {
        let delay: Duration
        switch advice {
        case .stop:
            return nil
        case .nextAddressNow where self.immediateReconnectsInARow < self.addresses.count:
            self.immediateReconnectsInARow += 1
            delay = .zero
        case .nextAddressNow:
            delay = self.backoff.nextDelay(using: &rng)
        case .afterBackoff(let minimum):
            delay = max(minimum, self.backoff.nextDelay(using: &rng))
        }
        self.index = (self.index + 1) % self.addresses.count
        return (self.currentAddress, delay)
    }
}
