//! The `tollgate` server: configuration, start-up, the management API and the
//! console mounted beside it.

pub mod api;
pub mod bootstrap;
pub mod config;
pub mod gateway;
pub mod health;
pub mod http;
pub mod startup;
pub mod telemetry;
