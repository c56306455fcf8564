//! texts (to be written)
