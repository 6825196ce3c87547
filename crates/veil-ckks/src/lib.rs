//! veil-ckks: under construction.
