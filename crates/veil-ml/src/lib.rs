//! veil-ml: under construction.
