//! The model catalog and the channels (upstream providers) that serve each model.

#[cfg(feature = "ssr")]
pub mod store;
