import MeshRelayProtocol
import NIOCore
import Synchronization

/// The sessions of one event loop, handed each pushed view in one task on that loop.
///
/// A push used to schedule a task per session: under a fan-out to 1,000 agents that was 1,000
/// closures, queue insertions and mailbox locks per write. Now the hub posts the new views once
/// per loop, and the loop's task hands every session of the loop its cluster's view. Posts that
/// arrive before the task runs coalesce: the task delivers the newest views only.
final class LoopSessions: Sendable {
    /// A registered session: its cluster, and how to hand it a view (runs on the loop).
    struct Member {
        let cluster: String
        let deliver: (ClusterView) -> Void
    }

    let eventLoop: any EventLoop
    /// The newest views posted and not yet delivered; non-nil while a delivery task is scheduled.
    private let pending = Mutex<ClusterViews?>(nil)
    /// Touched on `eventLoop` only (sessions register and unregister there).
    private let members: NIOLoopBoundBox<[UInt64: Member]>

    init(eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
        self.members = NIOLoopBoundBox.makeBoxSendingValue([:], as: [UInt64: Member].self, eventLoop: eventLoop)
    }

    /// Adds a session; on the loop.
    func add(_ id: UInt64, _ member: Member) {
        members.value[id] = member
    }

    /// Removes a session; on the loop.
    func remove(_ id: UInt64) {
        members.value[id] = nil
    }

    /// Schedules the delivery of `views` to every session of the loop, unless a delivery is
    /// already scheduled (it then delivers these views, or newer ones).
    func post(_ views: ClusterViews) {
        let scheduled = pending.withLock { waiting -> Bool in
            let scheduled = waiting != nil
            if let current = waiting, current.revision >= views.revision { return scheduled }
            waiting = views
            return scheduled
        }
        guard !scheduled else { return }
        eventLoop.execute { self.deliverPending() }
    }

    /// Hands each session its cluster's view of the pending views; on the loop.
    private func deliverPending() {
        guard let views = pending.withLock({ waiting in
            defer { waiting = nil }
            return waiting
        }) else { return }
        // A session may close (and remove itself) while views are handed out: the loop walks a
        // copy of the members.
        for member in members.value.values {
            member.deliver(views.sessionView(for: member.cluster))
        }
    }
}
