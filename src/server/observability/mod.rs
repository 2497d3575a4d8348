//! What an operator sees of the running app: Prometheus metrics (`metrics`), request ids that tie
//! a log line to a request (`request_id`), and the log format (`logging`). A leaf: it knows no
//! other server module, so every layer can report into it.

mod logging;
mod metrics;
mod request_id;

pub use logging::{init_logging, json_lines, log_filter};
pub use metrics::{EndReason, LoginResult, Metrics, RedisOperation, Refusal, CONTENT_TYPE};
pub use request_id::{drop_invalid_request_id, request_id_of, FastRequestId, REQUEST_ID_HEADER};
