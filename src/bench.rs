//! `zhengqi bench`: throughput and latency of SubmitAppeal.

use zhengqi_shared::Error;

#[derive(Debug, clap::Args)]
pub struct BenchArgs {}

pub async fn run(_args: BenchArgs) -> Result<(), Error> {
    Err(Error::Unavailable("the benchmark is not written yet".into()))
}
