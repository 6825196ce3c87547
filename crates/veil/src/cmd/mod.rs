//! Subcommands: roles and workflows.

pub mod certs;
pub mod demo;
