//! `veil demo`: the guided tour on embedded real data.

use clap::Args;

/// Options of `veil demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {}

pub fn run(_args: DemoArgs) -> anyhow::Result<()> {
    anyhow::bail!("the demo is being built")
}
