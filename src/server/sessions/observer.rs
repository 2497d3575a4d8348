//! What the session store reports, into the app's metrics: the time of each Redis operation,
//! sessions created, and the live-session count (kept in Redis by `live`).

use std::time::Duration;

use tower_sessions_fred_store::{Operation, SessionHandle, StoreObserver};

use super::live::LiveSessions;
use crate::server::observability::{Metrics, RedisOperation};

pub struct SessionObserver {
    pub metrics: Metrics,
    pub live: LiveSessions,
}

impl StoreObserver for SessionObserver {
    fn redis_call(&self, operation: Operation, elapsed: Duration) {
        if let Some(operation) = as_metric(operation) {
            self.metrics.redis_observed(operation, elapsed);
        }
    }

    fn session_created(&self) {
        self.metrics.session_created();
    }

    fn deadline_set(&self, handle: &SessionHandle, deadline_ms: i64, later_only: bool) {
        self.live.record(handle, deadline_ms, later_only);
    }

    fn sessions_deleted(&self, handles: &[SessionHandle]) {
        self.live.remove(handles);
    }
}

/// The metric series of a store operation (`None` for one a newer store has and the app does
/// not chart yet).
fn as_metric(operation: Operation) -> Option<RedisOperation> {
    Some(match operation {
        Operation::SessionLoad => RedisOperation::SessionLoad,
        Operation::SessionCreate => RedisOperation::SessionCreate,
        Operation::SessionSave => RedisOperation::SessionSave,
        Operation::SessionDelete => RedisOperation::SessionDelete,
        Operation::SessionIncrement => RedisOperation::SessionIncrement,
        Operation::IndexAdd => RedisOperation::IndexAdd,
        Operation::IndexRemove => RedisOperation::IndexRemove,
        Operation::IndexList => RedisOperation::IndexList,
        Operation::IndexRevoke => RedisOperation::IndexRevoke,
        Operation::IndexRevokeAll => RedisOperation::IndexRevokeAll,
        Operation::IndexPruneExpired => RedisOperation::IndexPruneExpired,
        _ => return None,
    })
}
