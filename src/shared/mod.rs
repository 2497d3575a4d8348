//! Built for both the browser (wasm) and the server: the wire error, the API's data shapes, the
//! input rules and the clock. Nothing here uses server-only code.

pub mod clock;
pub mod dto;
pub mod error;
pub mod input;
pub mod session_keys;
