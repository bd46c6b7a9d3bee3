//! Access rights (docs/ACCESS.md): who is asking ([`identity`], from the users file
//! [`users_file`], whose passwords and tokens [`secrets`] hashes), and which rows each may
//! read: the catalogue's row rules ([`row_rules`], kept beside its manifest), turned for
//! one identity at one time ([`clock`]) into filters added to every scan of a plan before
//! any optimisation ([`row_filter`]).

pub mod clock;
pub mod file_stamp;
pub mod identity;
pub mod jwt;
pub mod row_filter;
pub mod row_rules;
pub mod secrets;
pub mod table_grants;
pub mod users_file;

pub use identity::Identity;
pub use row_filter::RowFilter;
