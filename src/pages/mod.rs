//! Pages, each with the server functions it calls.

pub mod account;
pub mod clock;
pub mod home;
