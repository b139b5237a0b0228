// A request through the suite allocates many small buffers (headers, frames,
// messages, rows) and frees them on other threads; mimalloc does that with far
// less work than the system allocator (see README, Performance).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    zhengqi::cli::main()
}
