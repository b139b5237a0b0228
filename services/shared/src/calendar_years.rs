//! Following the working-day calendar years loaded through routing
//! (`PutCalendarYear`, its `CalendarYearLoaded` events): a part that counts
//! working days keeps each year in its own `calendar_years` table (`year`,
//! `content`, `load_time`), in the transaction that advances its cursor, loads
//! it into its [`SharedCalendar`] once that transaction has committed, and loads
//! the kept years again at every start, on top of the embedded ones.

use std::sync::Mutex;

use sqlx::{AnyConnection, Row};
use zhengqi_proto::zhengqi::routing::v1::CalendarYearLoaded;

use crate::Error;
use crate::reference::{Calendar, SharedCalendar};
use crate::storage::Store;

/// One part's follower of the loaded calendar years.
#[derive(Debug)]
pub struct CalendarYears {
    part: &'static str,
    calendar: SharedCalendar,
    /// Years applied in a transaction not yet committed.
    pending: Mutex<Vec<String>>,
}

impl CalendarYears {
    pub fn new(part: &'static str, calendar: SharedCalendar) -> CalendarYears {
        CalendarYears {
            part,
            calendar,
            pending: Mutex::new(Vec::new()),
        }
    }

    /// Loads the years kept in the part's table into its calendar and reports
    /// the days left; at start, before the first working day is counted.
    pub async fn load_kept(&self, store: &Store, now: i64) -> Result<(), Error> {
        let rows = sqlx::query("SELECT year, content FROM calendar_years ORDER BY year")
            .fetch_all(store.pool())
            .await?;
        for row in rows {
            let year: i64 = row.try_get(0)?;
            let content: String = row.try_get(1)?;
            if let Err(error) = self.calendar.load_year_toml(&content) {
                tracing::error!(part = self.part, year, %error, "a kept calendar year does not load");
            }
        }
        self.calendar.report_days_left(self.part, now);
        Ok(())
    }

    /// Applies a `CalendarYearLoaded` event inside the consumer's transaction:
    /// keeps the year in the part's table and returns it with the calendar that
    /// includes it, for the part to count its provisional time limits again in
    /// the same transaction. `None` for a file that does not load (logged; the
    /// log goes on).
    pub async fn apply(
        &self,
        conn: &mut AnyConnection,
        loaded: CalendarYearLoaded,
        now: i64,
    ) -> Result<Option<(i32, Calendar)>, Error> {
        let Some(year) = loaded.calendar_year else {
            return Ok(None);
        };
        let next = match self.calendar.current().with_year_toml(&year.content) {
            Ok(next) => next,
            Err(error) => {
                tracing::error!(part = self.part, year = year.year, %error, "a loaded calendar year does not load here");
                return Ok(None);
            }
        };
        sqlx::query(
            "INSERT INTO calendar_years (year, content, load_time) VALUES ($1, $2, $3) \
             ON CONFLICT (year) DO UPDATE SET content = $4, load_time = $5",
        )
        .bind(i64::from(year.year))
        .bind(&year.content)
        .bind(now)
        .bind(&year.content)
        .bind(now)
        .execute(&mut *conn)
        .await?;
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(year.content);
        Ok(Some((year.year, next)))
    }

    /// After the consumer's transaction committed: every task of the part sees
    /// the years applied in it.
    pub fn committed(&self, now: i64) {
        let pending = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()));
        if pending.is_empty() {
            return;
        }
        for content in pending {
            match self.calendar.load_year_toml(&content) {
                Ok(year) => {
                    tracing::info!(part = self.part, year, "working-day calendar year loaded")
                }
                Err(error) => {
                    tracing::error!(part = self.part, %error, "a calendar year does not load")
                }
            }
        }
        self.calendar.report_days_left(self.part, now);
    }
}
