//! veil-mpc: under construction.
