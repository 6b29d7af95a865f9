/// What an agent should do once a connection to a server has ended
/// (``AgentSessionStateMachine/Action/reconnect(_:)``; carried out by ``ReconnectPlanner``).
public enum ReconnectAdvice: Sendable, Hashable {
    /// The server drained: connect to the next server address at once, without backoff.
    case nextAddressNow
    /// The connection failed, was refused or broke: connect to the next address after the
    /// backoff delay, and not before `minimum` (a REFUSE's `retryAfterMilliseconds`; `.zero`
    /// when the server gave none).
    case afterBackoff(minimum: Duration)
    /// The agent closed on purpose (shutdown): do not reconnect.
    case stop
}
