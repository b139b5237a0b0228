//! The supervision sweep (督办): a background task that looks at every case
//! whose clock runs, every `sweep_interval`, and records what the deadline
//! clock says — YELLOW, RED, and the automatic escalation of an overdue county
//! case to the city — each as a ledger entry and an event.

use std::sync::Arc;

use zhengqi_shared::Error;
use zhengqi_shared::shutdown::Shutdown;

use crate::Core;
use crate::domain::machine;

/// Sweeps until `shutdown`.
pub async fn run(core: Arc<Core>, shutdown: Shutdown) {
    let mut interval = tokio::time::interval(core.supervision.sweep_interval);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.wait() => return,
            _ = interval.tick() => {}
        }
        if let Err(error) = sweep_once(&core).await {
            tracing::warn!(%error, "supervision sweep failed; trying again at the next interval");
        }
    }
}

/// One pass over the cases whose clock runs; returns how many changed.
pub async fn sweep_once(core: &Core) -> Result<usize, Error> {
    let now = core.clock.now();
    let settings = &core.supervision;
    // A year loaded through another replica of routing: load it here too,
    // and count this replica's view of the provisional deadlines again.
    if crate::load_stored_years(core).await? {
        core.store
            .recount_deadlines(&core.calendar.current(), None, now)
            .await?;
    }
    let calendar = core.calendar.current();
    core.calendar.report_days_left("routing", now);
    let mut changed = 0;
    for mut case in core.store.clock_running_cases().await? {
        let context = core.context(now, &calendar);
        let transitions = match machine::supervise(
            &mut case,
            &context,
            settings.yellow_ratio,
            settings.escalate_after_working_days,
        ) {
            Ok(transitions) => transitions,
            Err(error) => {
                tracing::warn!(case = %case.id, %error, "cannot supervise this case");
                continue;
            }
        };
        if transitions.is_empty() {
            continue;
        }
        match core.store.record_system(&case, &transitions, now).await {
            Ok(()) => changed += 1,
            // Someone changed the case meanwhile: the next pass sees the new state.
            Err(error) if matches!(error.unlocalized(), Error::Aborted(_)) => {}
            Err(error) => return Err(error),
        }
    }
    Ok(changed)
}
