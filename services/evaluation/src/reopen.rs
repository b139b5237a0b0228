//! Reopens a case in routing after a valid bad review about it (差评核实属实,
//! 重新办理). The verification records the reopening as pending in the same
//! transaction; this task asks routing by a direct call with an idempotency
//! key, retried until routing answers, so neither a crash nor an unreachable
//! routing loses it.

use std::sync::Arc;
use std::time::Duration;

use tonic::Code;
use tonic::transport::{Channel, Endpoint};
use zhengqi_proto::zhengqi::routing::v1 as routing;
use zhengqi_proto::zhengqi::routing::v1::case_service_client::CaseServiceClient;
use zhengqi_shared::Error;
use zhengqi_shared::backoff::Backoff;
use zhengqi_shared::events::{self, TokenSource};
use zhengqi_shared::shutdown::Shutdown;

use crate::Core;
use crate::domain::CaseReopen;
use crate::store;

/// How often pending reopenings are looked for when nothing wakes the task,
/// and the first wait after routing failed to answer.
const RETRY_INTERVAL: Duration = Duration::from_secs(2);
/// Reopenings asked in one pass.
const BATCH: i64 = 50;

/// Asks routing to reopen pending cases until `shutdown`.
pub async fn run(
    core: Arc<Core>,
    endpoint: String,
    token: Option<TokenSource>,
    shutdown: Shutdown,
) {
    let channel = match Endpoint::from_shared(endpoint.clone()) {
        Ok(endpoint) => endpoint
            .connect_timeout(Duration::from_secs(5))
            .connect_lazy(),
        Err(error) => {
            tracing::error!(%endpoint, %error, "bad routing address: no case will be reopened");
            return;
        }
    };
    let mut client = CaseServiceClient::new(channel);
    // While routing does not answer, the retries back off (with jitter) up
    // to a minute; a new reopening still wakes the task at once.
    let mut backoff = Backoff::new(RETRY_INTERVAL, Duration::from_secs(60));
    loop {
        let wait = match reopen_pending(&core, &mut client, token.as_ref()).await {
            Ok(()) => {
                backoff.reset();
                RETRY_INTERVAL
            }
            Err(error) => {
                tracing::warn!(%error, "reopening cases in routing failed; trying again");
                backoff.next_wait()
            }
        };
        tokio::select! {
            _ = shutdown.wait() => return,
            _ = core.reopen_wake.notified() => {}
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

/// One pass over the pending reopenings; stops at the first answer that says
/// to try again later.
async fn reopen_pending(
    core: &Core,
    client: &mut CaseServiceClient<Channel>,
    token: Option<&TokenSource>,
) -> Result<(), Error> {
    let pending = {
        let mut conn = core.store.read().await?;
        store::pending_reopens(&mut conn, BATCH).await?
    };
    for (id, case_id, review_id) in pending {
        let mut request = tonic::Request::new(routing::ReopenCaseRequest {
            id: case_id.clone(),
            etag: String::new(),
            request_id: format!("reopen-after-{id}"),
            reason: format!("差评核实属实: review {review_id}, rectification {id}"),
        });
        if let Some(token) = token {
            events::authorize(&mut request, token)?;
        }
        let (outcome, note) = match client.reopen_case(request).await {
            Ok(_) => (CaseReopen::Done, String::new()),
            Err(status) if refused_for_good(status.code()) => {
                tracing::warn!(case = %case_id, rectification = %id, %status, "routing refused to reopen the case");
                (CaseReopen::Failed, status.message().to_owned())
            }
            Err(status) => {
                return Err(Error::Unavailable(format!(
                    "routing did not reopen case {case_id}: {status}"
                )));
            }
        };
        let mut tx = core.store.begin().await?;
        store::finish_reopen(&mut tx, &id, outcome, &note).await?;
        tx.commit().await?;
    }
    Ok(())
}

/// Answers that a retry would only repeat.
fn refused_for_good(code: Code) -> bool {
    matches!(
        code,
        Code::FailedPrecondition
            | Code::NotFound
            | Code::PermissionDenied
            | Code::InvalidArgument
            | Code::AlreadyExists
    )
}
