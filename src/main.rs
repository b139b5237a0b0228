fn main() -> std::process::ExitCode {
    zhengqi::cli::main()
}
