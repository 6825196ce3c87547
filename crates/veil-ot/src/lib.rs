//! veil-ot: under construction.
