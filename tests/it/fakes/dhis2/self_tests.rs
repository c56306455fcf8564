//! The fake's own tests, over real HTTP.
