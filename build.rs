//! Links the `skyql` executable as a fixed-address (non-PIE) program on Linux with glibc.
//!
//! A position-independent executable of this size makes the dynamic loader apply about
//! 235,000 relative relocations at every start, touching and copying every page they
//! fall on: about 5 ms of a 7 ms `skyql --version` on the project machine, paid again by
//! every `skyql query` (docs/BENCHMARKS.md, "Start-up"). Linked at a fixed address the
//! executable has a few hundred relocations. The price: the executable's own code and
//! data, the bundled cfitsio included, are not placed at a random address (shared
//! libraries, the stack and the heap still are), which weakens one defence against
//! memory-corruption exploits in a process that parses untrusted files or serves the
//! network. `SKYQL_PIE=1` at build time keeps the usual position-independent link, for
//! deployments that prefer it; docs/ARCHITECTURE.md records the choice. Only bin targets
//! get the flag (the library and the integration tests do not), and static-glibc builds
//! (`+crt-static`, which link as static PIE) are left alone.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=SKYQL_PIE");
    let env = |name: &str| std::env::var(name).unwrap_or_default();
    let linux_gnu = env("CARGO_CFG_TARGET_OS") == "linux" && env("CARGO_CFG_TARGET_ENV") == "gnu";
    let crt_static = env("CARGO_CFG_TARGET_FEATURE")
        .split(',')
        .any(|f| f == "crt-static");
    let pie_asked = env("SKYQL_PIE") == "1";
    if linux_gnu && !crt_static && !pie_asked {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
}
