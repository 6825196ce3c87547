//! Subcommands: roles and workflows.

pub mod demo;
