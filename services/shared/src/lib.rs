//! What every zhengqi service is built from: configuration, storage and
//! migrations, token verification and the `Principal`, the event log and its
//! consumer, server bootstrap, the error type, and the reference directory
//! (jurisdictions, working-day calendar, credit codes).
#![forbid(unsafe_code)]

pub mod access;
pub mod appeal;
pub mod auth;
pub mod authorization;
pub mod backoff;
pub mod calendar_years;
pub mod chain;
pub mod clock;
pub mod config;
pub mod error;
pub mod events;
pub mod fields;
pub mod ids;
pub mod metrics;
pub mod names;
pub mod personal;
pub mod rating;
pub mod reference;
pub mod server;
pub mod shutdown;
pub mod storage;
pub mod unit;

pub use error::{Error, Violations, Why};
