//! Subcommands: roles and workflows.

pub mod aggregate_net;
pub mod certs;
pub mod demo;
pub mod gc;
pub mod link;
pub mod mpc;
pub mod party;
pub mod secure_infer;
pub mod stats;
pub mod threshold;
pub mod threshold_keys;
