//! How long the app's Redis operations take, by operation. The operations are a fixed list, so
//! each has its histogram made up front and found by index: timing one takes no lock.

use std::fmt;

use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric},
    metrics::MetricType,
};

use super::histogram::DurationHistogram;

/// The enum, its list and its label names from one table, so no operation can miss a histogram.
macro_rules! redis_operations {
    ($($operation:ident => $name:literal,)*) => {
        /// One round trip or script of the app's, named in the `operation` label.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum RedisOperation {
            $($operation,)*
        }

        impl RedisOperation {
            /// Every operation, in declaration order: an operation's discriminant is its index.
            const ALL: &'static [RedisOperation] = &[$(RedisOperation::$operation,)*];

            pub fn name(self) -> &'static str {
                match self {
                    $(RedisOperation::$operation => $name,)*
                }
            }
        }
    };
}

redis_operations! {
    SessionLoad => "session_load",
    SessionCreate => "session_create",
    SessionSave => "session_save",
    SessionDelete => "session_delete",
    SessionIncrement => "session_increment",
    IndexAdd => "index_add",
    IndexRemove => "index_remove",
    IndexList => "index_list",
    IndexPruneExpired => "index_prune_expired",
    IndexRevoke => "index_revoke",
    IndexRevokeAll => "index_revoke_all",
    LiveSessionsCount => "live_sessions_count",
    AccountCreate => "account_create",
    AccountRead => "account_read",
    AccountSetPassword => "account_set_password",
    AccountMarkUsed => "account_mark_used",
    LoginAttempt => "login_attempt",
    LoginSucceeded => "login_succeeded",
}

/// A histogram per operation, in `RedisOperation::ALL` order.
pub(super) struct RedisTimings {
    histograms: Box<[DurationHistogram]>,
}

impl Default for RedisTimings {
    fn default() -> Self {
        // 100 µs … ~1.6 s: a loopback round trip up to the command timeout.
        let histogram = || DurationHistogram::doubling(std::time::Duration::from_micros(100), 15);
        RedisTimings {
            histograms: RedisOperation::ALL.iter().map(|_| histogram()).collect(),
        }
    }
}

impl RedisTimings {
    pub fn of(&self, operation: RedisOperation) -> &DurationHistogram {
        &self.histograms[operation as usize]
    }
}

#[derive(Debug, EncodeLabelSet)]
struct OperationLabel {
    operation: &'static str,
}

impl fmt::Debug for RedisTimings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RedisTimings")
    }
}

impl Collector for RedisTimings {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), fmt::Error> {
        let help =
            "Time of the app's Redis operations (one round trip or script each), by operation";
        let name = "redis_command_duration_seconds";
        let mut family = encoder.encode_descriptor(name, help, None, MetricType::Histogram)?;
        for &operation in RedisOperation::ALL {
            let snapshot = self.of(operation).snapshot();
            // A series appears once its operation has run, as a `Family`'s would.
            if snapshot.count() > 0 {
                let label = OperationLabel {
                    operation: operation.name(),
                };
                snapshot.encode(family.encode_family(&label)?)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_has_its_own_histogram() {
        for (index, &operation) in RedisOperation::ALL.iter().enumerate() {
            assert_eq!(operation as usize, index, "{operation:?} out of order");
        }
        let names: std::collections::HashSet<_> =
            RedisOperation::ALL.iter().map(|op| op.name()).collect();
        assert_eq!(names.len(), RedisOperation::ALL.len());
    }
}
