//! What an operator sees of the running app: Prometheus metrics (`metrics`), request ids that tie
//! a log line to a request (`request_id`), and the log format (`logging`). A leaf: it knows no
//! other server module, so every layer can report into it.

mod histogram;
mod http_routes;
mod logging;
mod metrics;
mod redis_timings;
mod request_id;
mod sharded;

pub use http_routes::{HttpRoutes, RouteId};
pub use logging::{init_logging, json_lines, log_filter};
pub use metrics::{EndReason, LoginResult, Metrics, Refusal, CONTENT_TYPE};
pub use redis_timings::RedisOperation;
pub use request_id::{drop_invalid_request_id, request_id_of, FastRequestId, REQUEST_ID_HEADER};
