//! veil-gc: under construction.
