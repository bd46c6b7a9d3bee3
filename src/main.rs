//! The `skyql` command: a thin shell over the library.

fn main() -> std::process::ExitCode {
    skyql::cli::main()
}
