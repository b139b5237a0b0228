//! Applies routing's events: a resolved case invites its enterprise to rate
//! the department that handled it (待评价). The shared consumer calls this
//! inside the transaction that advances its cursor, so each event takes effect
//! once; the one review per case makes a replayed event a no-op as well.

use std::sync::Arc;

use futures_util::future::BoxFuture;
use prost::Name;
use sqlx::AnyConnection;
use zhengqi_proto::zhengqi::common::v1::Event;
use zhengqi_proto::zhengqi::evaluation::v1 as pb;
use zhengqi_proto::zhengqi::routing::v1 as routing;
use zhengqi_proto::zhengqi::routing::v1::routing_event::Event as RoutingEvent;
use zhengqi_shared::Error;
use zhengqi_shared::events::{EventHandler, decode};
use zhengqi_shared::ids;
use zhengqi_shared::storage::micros_of;

use crate::Core;
use crate::convert;
use crate::domain::review::department_jurisdiction;
use crate::domain::{Direction, Review, ReviewState, TargetKind};
use crate::store;

/// The events this handler applies; the others are not sent to it.
pub fn types() -> Vec<String> {
    vec![
        routing::CaseOpened::full_name(),
        routing::CaseTransitioned::full_name(),
        routing::CalendarYearLoaded::full_name(),
    ]
}

/// The `EventHandler` of evaluation's consumer of routing's log.
pub struct RoutingEvents {
    core: Arc<Core>,
}

impl RoutingEvents {
    pub fn new(core: Arc<Core>) -> Self {
        Self { core }
    }

    async fn remember_enterprise(
        &self,
        conn: &mut AnyConnection,
        case: &routing::Case,
    ) -> Result<(), Error> {
        if let Some(enterprise) = &case.enterprise {
            store::remember_enterprise(
                conn,
                &enterprise.uscc,
                &enterprise.name,
                self.core.clock.now(),
            )
            .await?;
        }
        Ok(())
    }

    async fn transitioned(
        &self,
        conn: &mut AnyConnection,
        event: routing::CaseTransitioned,
    ) -> Result<(), Error> {
        let Some(case) = event.case else {
            return Ok(());
        };
        self.remember_enterprise(conn, &case).await?;
        if event.to_state != routing::CaseState::Resolved as i32 {
            return Ok(());
        }
        let now = self.core.clock.now();
        let Some(invitation) = invitation(&case, now) else {
            tracing::warn!(case = %case.id, "a resolved case without an enterprise invites no review");
            return Ok(());
        };
        // One review per case: a replay, or a case resolved again after a
        // reopening, invites nothing new.
        if !store::insert_review(conn, &invitation).await? {
            return Ok(());
        }
        self.core
            .store
            .events()
            .append(
                conn,
                &invitation.id,
                &invitation.jurisdiction_code,
                &pb::ReviewInvited {
                    review: Some(convert::review_to_proto(&invitation, false)),
                },
            )
            .await?;
        Ok(())
    }
}

/// The invitation a resolved case gives its enterprise: rate the department
/// that handled it, in that department's jurisdiction.
fn invitation(case: &routing::Case, now: i64) -> Option<Review> {
    let enterprise = case.enterprise.as_ref().filter(|e| !e.uscc.is_empty())?;
    let jurisdiction_code = department_jurisdiction(&case.department_id)
        .unwrap_or(&case.jurisdiction_code)
        .to_owned();
    let resolved = case
        .resolve_time
        .as_ref()
        .map(micros_of)
        .filter(|t| *t > 0)
        .unwrap_or(now);
    Some(Review {
        id: ids::new_id(&jurisdiction_code),
        direction: Direction::EnterpriseToDepartment,
        target_kind: TargetKind::Department,
        target_id: case.department_id.clone(),
        case_id: case.id.clone(),
        rating: None,
        comment: String::new(),
        dimensions: Vec::new(),
        state: ReviewState::Invited,
        jurisdiction_code,
        department_id: case.department_id.clone(),
        uscc: enterprise.uscc.clone(),
        enterprise_name: enterprise.name.clone(),
        reviewer: String::new(),
        rectification_id: String::new(),
        invite_time: Some(resolved),
        submit_time: None,
        create_time: now,
        service_record_id: String::new(),
    })
}

impl EventHandler for RoutingEvents {
    fn apply<'a>(
        &'a self,
        conn: &'a mut AnyConnection,
        event: &'a Event,
    ) -> BoxFuture<'a, Result<(), Error>> {
        Box::pin(async move {
            match decode(event)? {
                Some(RoutingEvent::CaseTransitioned(transitioned)) => {
                    self.transitioned(conn, transitioned).await
                }
                Some(RoutingEvent::CaseOpened(opened)) => match opened.case {
                    Some(case) => self.remember_enterprise(conn, &case).await,
                    None => Ok(()),
                },
                Some(RoutingEvent::CalendarYearLoaded(loaded)) => {
                    let now = self.core.clock.now();
                    if let Some((year, calendar)) =
                        self.core.calendar_years.apply(conn, loaded, now).await?
                    {
                        let changed = self.core.recount_due_times(conn, &calendar, now).await?;
                        tracing::info!(year, changed, "rectification due times counted again");
                    }
                    Ok(())
                }
                Some(
                    RoutingEvent::SupervisionChanged(_)
                    | RoutingEvent::CaseEscalated(_)
                    | RoutingEvent::MeetingScheduled(_)
                    | RoutingEvent::CaseAddedToAgenda(_)
                    | RoutingEvent::MeetingDecisionRecorded(_)
                    | RoutingEvent::ButlerAssigned(_)
                    | RoutingEvent::RoutingRuleChanged(_),
                )
                | None => Ok(()),
            }
        })
    }

    fn committed(&self) {
        self.core.calendar_years.committed(self.core.clock.now());
        // Invitations are events of evaluation's own log: wake its followers.
        self.core.store.events().wake();
    }
}
