//! Applies intake's events: every registered appeal that is not a duplicate
//! opens one case; a duplicate joins the case of the appeal it repeats; a
//! withdrawal closes the case. The shared consumer calls this inside the
//! transaction that advances its cursor, so each event takes effect once; the
//! unique appeal link makes a replayed event a no-op as well.

use std::sync::Arc;

use futures_util::future::BoxFuture;
use prost::Name;
use sqlx::{AnyConnection, Row};
use zhengqi_proto::zhengqi::common::v1::Event;
use zhengqi_proto::zhengqi::intake::v1 as intake;
use zhengqi_proto::zhengqi::intake::v1::intake_event::Event as IntakeEvent;
use zhengqi_shared::Error;
use zhengqi_shared::events::{EventHandler, decode};
use zhengqi_shared::ids;

use crate::Core;
use crate::convert;
use crate::domain::ledger::Entry;
use crate::domain::machine;
use crate::domain::rules::{self, Facts};
use crate::domain::{CaseAction, CaseState};
use crate::store;

/// The events this handler applies (every one of intake's); the others are not
/// sent to it.
pub fn types() -> Vec<String> {
    vec![
        intake::AppealRegistered::full_name(),
        intake::AppealWithdrawn::full_name(),
        intake::EnterpriseRegistered::full_name(),
    ]
}

/// The `EventHandler` of routing's consumer of intake's log.
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
        event: intake::AppealRegistered,
    ) -> Result<(), Error> {
        let now = self.core.clock.now();
        if let Some(enterprise) = &event.enterprise {
            store::record_enterprise(
                conn,
                &enterprise.uscc,
                &enterprise.name,
                &enterprise.jurisdiction_code,
                now,
            )
            .await?;
        }
        let Some(appeal) = event.appeal else {
            return Ok(());
        };
        let events = self.core.store.events();
        if appeal.status == intake::AppealStatus::Duplicate as i32
            && !appeal.duplicate_of.is_empty()
            && let Some(mut case) = store::select_case_by_appeal(conn, &appeal.duplicate_of).await?
        {
            // The link is the appeal's one entry: a replayed event finds it taken.
            if !link(conn, &appeal.id, &case.id, now).await? {
                return Ok(());
            }
            let expected = case.version;
            let transition = machine::link_duplicate(&mut case, &appeal.id, &appeal.number);
            case.version += 1;
            case.update_time = now;
            store::write_case(conn, &case, Some(expected)).await?;
            store::record(conn, events, &case, &transition, "system", now).await?;
            return Ok(());
        }
        let id = ids::new_id(&appeal.jurisdiction_code);
        let new = convert::new_case(&appeal, event.enterprise.as_ref());
        let rules = self.core.enabled_rules(conn).await?;
        let jurisdictions = self.core.ancestry(&new.jurisdiction_code);
        let placement = rules::route(
            &rules,
            &Facts {
                jurisdictions: jurisdictions.iter().map(String::as_str).collect(),
                category: new.category,
                channel: new.channel,
                kind: new.kind,
                enterprise_tags: &new.enterprise_tags,
            },
            &self.core.departments,
        );
        let butler = sqlx::query("SELECT official FROM butlers WHERE uscc = $1")
            .bind(&new.uscc)
            .fetch_optional(&mut *conn)
            .await?
            .map(|row| row.try_get::<String, _>(0))
            .transpose()?
            .unwrap_or_default();
        let case = machine::open(
            id,
            new,
            &placement,
            butler,
            &self.core.calendar.current(),
            now,
        );
        if case.deadline_provisional {
            tracing::info!(case = %case.id, "a provisional deadline: it runs into a year whose calendar is not loaded");
        }
        // The unique appeal id makes a replayed event open nothing.
        if !store::write_case(conn, &case, None).await? {
            return Ok(());
        }
        let department = match case.department_id.as_str() {
            "" => "no department yet".to_owned(),
            department => department.to_owned(),
        };
        let rule = match &placement.rule_id {
            Some(rule) => format!(" by rule {rule}"),
            None => String::new(),
        };
        store::append_entry(
            conn,
            Entry {
                jurisdiction_code: case.jurisdiction_code.clone(),
                sequence: 0,
                case_id: case.id.clone(),
                action: CaseAction::Open,
                from_state: CaseState::Pending,
                to_state: CaseState::Pending,
                actor: "system".to_owned(),
                actor_role: "system".to_owned(),
                create_time: now,
                note: format!(
                    "opened from appeal {} at {} level, {department}{rule}; {} working days",
                    case.number, case.level, case.time_limit_days
                ),
                level: case.level,
                department_id: case.department_id.clone(),
                previous_hash: String::new(),
                entry_hash: String::new(),
            },
        )
        .await?;
        events
            .append(
                conn,
                &case.id,
                &case.jurisdiction_code,
                &convert::case_opened(&case),
            )
            .await?;
        Ok(())
    }

    async fn withdrawn(
        &self,
        conn: &mut AnyConnection,
        event: intake::AppealWithdrawn,
    ) -> Result<(), Error> {
        let Some(appeal) = event.appeal else {
            return Ok(());
        };
        let Some(mut case) = store::select_case_by_appeal(conn, &appeal.id).await? else {
            return Ok(());
        };
        // A withdrawn duplicate leaves the case to the original appeal; a
        // finished case stays as it ended.
        if case.appeal_id != appeal.id || case.state.is_final() {
            return Ok(());
        }
        let now = self.core.clock.now();
        let expected = case.version;
        let transition = machine::withdraw(&mut case, &appeal.withdraw_reason, now);
        case.version += 1;
        case.update_time = now;
        store::write_case(conn, &case, Some(expected)).await?;
        let actor = if appeal.submitter.is_empty() {
            "system"
        } else {
            &appeal.submitter
        };
        store::record(
            conn,
            self.core.store.events(),
            &case,
            &transition,
            actor,
            now,
        )
        .await?;
        Ok(())
    }
}

/// Links a duplicate appeal to its case; false when it was linked before.
async fn link(
    conn: &mut AnyConnection,
    appeal_id: &str,
    case_id: &str,
    now: i64,
) -> Result<bool, Error> {
    let inserted = sqlx::query(
        "INSERT INTO case_appeals (appeal_id, case_id, duplicate, create_time) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (appeal_id) DO NOTHING",
    )
    .bind(appeal_id)
    .bind(case_id)
    .bind(1_i64)
    .bind(now)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    Ok(inserted == 1)
}

impl EventHandler for IntakeEvents {
    fn apply<'a>(
        &'a self,
        conn: &'a mut AnyConnection,
        event: &'a Event,
    ) -> BoxFuture<'a, Result<(), Error>> {
        Box::pin(async move {
            match decode(event)? {
                Some(IntakeEvent::AppealRegistered(registered)) => {
                    self.registered(conn, registered).await
                }
                Some(IntakeEvent::AppealWithdrawn(withdrawn)) => {
                    self.withdrawn(conn, withdrawn).await
                }
                Some(IntakeEvent::EnterpriseRegistered(registered)) => {
                    match registered.enterprise {
                        Some(enterprise) => {
                            store::record_enterprise(
                                conn,
                                &enterprise.uscc,
                                &enterprise.name,
                                &enterprise.jurisdiction_code,
                                self.core.clock.now(),
                            )
                            .await
                        }
                        None => Ok(()),
                    }
                }
                None => Ok(()),
            }
        })
    }

    fn committed(&self) {
        // Cases opened here are events of routing's own log: wake its followers.
        self.core.store.events().wake();
    }
}
