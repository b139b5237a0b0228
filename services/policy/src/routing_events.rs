//! Applies routing's events that policy needs: the working-day calendar years
//! loaded there (`CalendarYearLoaded`), kept in policy's own table in the
//! transaction that advances the cursor and seen by the API once it commits,
//! so consultation periods count on them.

use std::sync::Arc;

use futures_util::future::BoxFuture;
use sqlx::AnyConnection;
use zhengqi_proto::zhengqi::common::v1::Event;
use zhengqi_shared::Error;
use zhengqi_shared::calendar_years::CALENDAR_YEAR_LOADED;
use zhengqi_shared::events::EventHandler;

use crate::Core;

/// The events this handler applies; the others are not sent to it.
pub const TYPES: [&str; 1] = [CALENDAR_YEAR_LOADED];

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
            if event.r#type == CALENDAR_YEAR_LOADED {
                self.core
                    .calendar_years
                    .apply(conn, event, self.core.clock.now())
                    .await?;
            }
            Ok(())
        })
    }

    fn committed(&self) {
        self.core.calendar_years.committed(self.core.clock.now());
    }
}
