//! veil-math: under construction.
