fn main() -> std::process::ExitCode {
    mttd::cli::main()
}
