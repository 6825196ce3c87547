//! Encrypted logistic-regression training (to be written).
