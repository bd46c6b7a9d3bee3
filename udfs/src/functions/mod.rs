//! The scalar functions registered in every session.

mod pixel_sky;

pub use pixel_sky::{Pix2Sky, Sky2Pix};
