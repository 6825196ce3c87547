//! veil-mpc: secret-sharing MPC over the ring Z_2^64 with fixed-point encoding.
//!
//! Two protocols, both secure against a semi-honest adversary:
//!
//! * **2PC with a dealer** ([`twopc`]): values are additively shared between parties 0 and 1,
//!   `x = x₀ + x₁ mod 2^64`. A third process, the dealer, supplies the correlated randomness of
//!   the offline phase and never receives anything. Every random mask is expanded from two
//!   seeds: the dealer shares seed₀ with party 0 and seed₁ with party 1, so party 0 receives
//!   nothing from the dealer after set-up and party 1 receives only the *corrections* that make
//!   the correlations hold (`C₁ = A·B − C₀`). Security holds if the dealer colludes with
//!   neither party.
//! * **3PC replicated** ([`threepc`]): `x = x₁ + x₂ + x₃`, party *i* holds `(xᵢ, xᵢ₊₁)`;
//!   pairwise ChaCha20 keys give zero-sharings, so a multiplication costs one message per party
//!   and no dealer. Non-linear steps run the same Boolean circuit as the 2PC protocol between
//!   parties 1 and 2 with party 3 supplying its correlated randomness (honest majority: no two
//!   parties collude).
//!
//! Linear layers use *masked operands*: a shared tensor `X` is opened once as `E = X − M`
//! against a dealer mask `M`, after which any number of products with other masked operands
//! cost no communication (`XY = E·Y + M·E' + M·M'`). A model's weights are opened once per
//! session, so a query only opens its activations. Comparisons compute the sign bit of
//! `x₀ + x₁` with a log-depth carry circuit on XOR-shared words (7 rounds), then one round turns
//! the bit into an arithmetic multiplier ([`twopc::TwoPc::piecewise`]).
//!
//! The design leaves room for MAC-based checks: every opened value passes through one method
//! per protocol (`exchange`), where a SPDZ-style MAC check would be added.

pub mod approx;
pub mod binary;
mod error;
pub mod fixed;
pub mod local;
pub mod nn;
pub mod prg;
pub mod provider;
pub mod ring;
pub mod threepc;
pub mod twopc;
pub mod wire;

pub use error::MpcError;
pub use fixed::FixedPoint;
pub use prg::Seed;
