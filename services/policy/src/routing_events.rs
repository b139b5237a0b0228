//! Applies routing's events that policy needs: the working-day calendar years
//! loaded there (`CalendarYearLoaded`), kept in policy's own table in the
//! transaction that advances the cursor and seen by the API once it commits,
//! so consultation periods count on them.

use std::sync::Arc;

use futures_util::future::BoxFuture;
use sqlx::AnyConnection;
use zhengqi_proto::zhengqi::common::v1::Event;
use zhengqi_proto::zhengqi::routing::v1::CalendarYearLoaded;
use zhengqi_proto::zhengqi::routing::v1::routing_event::Event as RoutingEvent;
use zhengqi_shared::Error;
use zhengqi_shared::events::{EventHandler, decode};

use crate::Core;

/// The events this handler applies; the others are not sent to it.
pub fn types() -> Vec<String> {
    vec![<CalendarYearLoaded as prost::Name>::full_name()]
}

/// The `EventHandler` of policy's consumer of routing's log.
pub struct RoutingEvents {
    core: Arc<Core>,
}

impl RoutingEvents {
    pub fn new(core: Arc<Core>) -> Self {
        Self { core }
    }
}

impl EventHandler for RoutingEvents {
    fn apply<'a>(
        &'a self,
        conn: &'a mut AnyConnection,
        event: &'a Event,
    ) -> BoxFuture<'a, Result<(), Error>> {
        Box::pin(async move {
            match decode(event)? {
                Some(RoutingEvent::CalendarYearLoaded(loaded)) => {
                    self.core
                        .calendar_years
                        .apply(conn, loaded, self.core.clock.now())
                        .await?;
                }
                Some(
                    RoutingEvent::CaseOpened(_)
                    | RoutingEvent::CaseTransitioned(_)
                    | RoutingEvent::SupervisionChanged(_)
                    | RoutingEvent::CaseEscalated(_)
                    | RoutingEvent::MeetingScheduled(_)
                    | RoutingEvent::CaseAddedToAgenda(_)
                    | RoutingEvent::MeetingDecisionRecorded(_)
                    | RoutingEvent::ButlerAssigned(_)
                    | RoutingEvent::RoutingRuleChanged(_),
                )
                | None => {}
            }
            Ok(())
        })
    }

    fn committed(&self) {
        self.core.calendar_years.committed(self.core.clock.now());
    }
}
