//! Links the `skyql` executable as a fixed-address (non-PIE) program on Linux.
//!
//! A position-independent executable of this size makes the dynamic loader apply about
//! 235,000 relative relocations at every start, touching and copying every page they
//! fall on: about 3 ms of a 4 ms `skyql --version`, paid again by every `skyql query`.
//! Linked at a fixed address the executable has a few hundred relocations and starts in
//! about 1 ms (docs/BENCHMARKS.md). The price is that the executable's own code and data
//! are not placed at a random address (shared libraries, the stack and the heap still
//! are); docs/ARCHITECTURE.md records the trade-off. Only the binaries are linked so;
//! the library and the test executables are unchanged.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let linux = std::env::var("CARGO_CFG_TARGET_OS").is_ok_and(|os| os == "linux");
    let gnu_like = std::env::var("CARGO_CFG_TARGET_ENV").is_ok_and(|env| env == "gnu");
    if linux && gnu_like {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
}
