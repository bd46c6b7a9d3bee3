//! Table functions: SQL `FROM f(...)` that build a plan from the session's tables.

pub mod positions;
pub mod xmatch;

pub use xmatch::Xmatch;
