//! `veil certs`: the small certificate authority of a deployment.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use veil_transport::pki;

/// Create and issue the TLS certificates that authenticate the parties to each other.
///
/// Every networked veil process (party, server, dealer, garbler, evaluator) proves who it is
/// with a certificate from one CA, and accepts only peers with a certificate from that same
/// CA issued for the name it expects. A party's name is a DNS-style name such as `party-1` or
/// `inspectorate.example`; it is the SAN of its certificate and the name other parties use
/// for it in their configuration.
///
/// Files in DIR: `ca.pem` (give it to every party), `ca.key` (the CA key: keep it offline),
/// `<party>.pem` and `<party>.key` (give both to that party only). Keys are ECDSA P-256 and are
/// written owner-only (mode 0600); existing files are never overwritten.
#[derive(Debug, Args)]
pub struct CertsArgs {
    #[command(subcommand)]
    pub action: CertsAction,
}

#[derive(Debug, Subcommand)]
pub enum CertsAction {
    /// Create a new CA and one certificate per party in DIR (created with mode 0700 if
    /// missing).
    ///
    /// Example: `veil certs init --dir pki --parties party-0,party-1,party-2`
    Init {
        /// Directory for the CA and the parties' files.
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
        /// Comma-separated party names (lowercase letters, digits, '-' and '.').
        #[arg(long, value_name = "NAMES", value_delimiter = ',', required = true)]
        parties: Vec<String>,
        /// The CA's name (the common name of its certificate).
        #[arg(long, value_name = "NAME", default_value = "veil CA")]
        ca_name: String,
    },
    /// Issue a certificate for one more party with the CA in DIR.
    ///
    /// Example: `veil certs issue --dir pki --party party-3`
    Issue {
        /// Directory holding `ca.pem` and `ca.key`.
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
        /// The new party's name.
        #[arg(long, value_name = "NAME")]
        party: String,
    },
}

pub fn run(args: CertsArgs) -> anyhow::Result<()> {
    match args.action {
        CertsAction::Init { dir, parties, ca_name } => {
            for party in &parties {
                pki::validate_party_name(party)?;
            }
            if let Some(dup) = parties.iter().enumerate().find(|(i, p)| parties[..*i].contains(p)) {
                anyhow::bail!("party {:?} is listed twice", dup.1);
            }
            pki::create_ca(&dir, &ca_name).with_context(|| format!("creating the CA in {}", dir.display()))?;
            eprintln!("created CA {ca_name:?}: {}", dir.join(pki::CA_CERT_FILE).display());
            for party in &parties {
                issue(&dir, party)?;
            }
            eprintln!("keep {} offline; give each party ca.pem and its own .pem and .key", dir.join(pki::CA_KEY_FILE).display());
        }
        CertsAction::Issue { dir, party } => issue(&dir, &party)?,
    }
    Ok(())
}

fn issue(dir: &std::path::Path, party: &str) -> anyhow::Result<()> {
    pki::issue(dir, party).with_context(|| format!("issuing the certificate of {party}"))?;
    eprintln!("issued {party}: {} and {} (0600)", pki::cert_path(dir, party).display(), pki::key_path(dir, party).display());
    Ok(())
}
