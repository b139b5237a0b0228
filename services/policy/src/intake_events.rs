//! Applies intake's events: an enterprise registered (or its registration
//! changed) is kept in policy's own table, and the published policies that
//! now apply to it are pushed to its inbox. The shared consumer calls this in
//! the transaction that advances its cursor; the unique (enterprise, policy,
//! version) of the inbox makes a replayed event push nothing twice.

use std::sync::Arc;

use futures_util::future::BoxFuture;
use prost::Name;
use sqlx::AnyConnection;
use zhengqi_proto::zhengqi::common::v1::Event;
use zhengqi_proto::zhengqi::intake::v1 as intake;
use zhengqi_proto::zhengqi::intake::v1::intake_event::Event as IntakeEvent;
use zhengqi_shared::Error;
use zhengqi_shared::events::{EventHandler, decode};

use crate::{Core, convert, store};

/// The events this handler applies; the others are not sent to it.
pub fn types() -> Vec<String> {
    vec![intake::EnterpriseRegistered::full_name()]
}

/// The `EventHandler` of policy's consumer of intake's log.
pub struct IntakeEvents {
    core: Arc<Core>,
}

impl IntakeEvents {
    pub fn new(core: Arc<Core>) -> Self {
        Self { core }
    }

    async fn registered(
        &self,
        conn: &mut AnyConnection,
        event: intake::EnterpriseRegistered,
    ) -> Result<(), Error> {
        let Some(enterprise) = event.enterprise else {
            return Ok(());
        };
        if enterprise.uscc.is_empty() {
            return Ok(());
        }
        let enterprise = convert::enterprise_from_intake(&enterprise);
        let now = self.core.clock.now();
        store::upsert_enterprise(conn, &enterprise, now).await?;
        let pushed = self.core.push_to_enterprise(conn, &enterprise, now).await?;
        self.core.events.append_all(conn, &pushed).await?;
        Ok(())
    }
}

impl EventHandler for IntakeEvents {
    fn apply<'a>(
        &'a self,
        conn: &'a mut AnyConnection,
        event: &'a Event,
    ) -> BoxFuture<'a, Result<(), Error>> {
        Box::pin(async move {
            match decode(event)? {
                Some(IntakeEvent::EnterpriseRegistered(registered)) => {
                    self.registered(conn, registered).await
                }
                Some(IntakeEvent::AppealRegistered(_) | IntakeEvent::AppealWithdrawn(_)) | None => {
                    Ok(())
                }
            }
        })
    }

    fn committed(&self) {
        // Pushes are events of policy's own log: wake its followers.
        self.core.events.wake();
    }
}
