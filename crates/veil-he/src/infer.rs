//! Encrypted inference of veil-ml models (to be written).
