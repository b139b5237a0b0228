//! The overview of a jurisdiction's period, and recomputing a period from its facts.

use super::*;
impl ScoringApi {
    pub(super) async fn overview(
        &self,
        principal: &Principal,
        request: pb::GetOverviewRequest,
    ) -> Result<pb::Overview, Error> {
        let period = convert::period("period", &request.period)?;
        let scope = self.scope(principal);
        let code = self.jurisdiction(principal, &scope, &request.jurisdiction_code)?;
        let jurisdictions = self.descendants(&code);
        let period_text = period.to_string();
        let now = self.core.clock.now();
        let mut conn = self.core.store.pool().acquire().await?;
        let metrics =
            store::summed_jurisdiction_metrics(&mut conn, &period_text, &jurisdictions).await?;
        let overdue =
            store::overdue_at(&mut conn, &jurisdictions, period.end_micros().min(now)).await?;
        let get = |name: &str| metrics.get(name).copied().unwrap_or(0);
        let mut by_channel: Vec<pb::ChannelCount> = metrics
            .iter()
            .filter_map(|(name, value)| {
                let channel = appeal::Channel::parse(name.strip_prefix(metric::CHANNEL)?)?;
                (*value > 0).then(|| pb::ChannelCount {
                    channel: appeal::channel_to_proto(channel),
                    count: count(*value),
                })
            })
            .collect();
        by_channel.sort_by_key(|c| c.channel);
        let mut by_category: Vec<pb::CategoryCount> = metrics
            .iter()
            .filter_map(|(name, value)| {
                let category = appeal::Category::parse(name.strip_prefix(metric::CATEGORY)?)?;
                (*value > 0).then(|| pb::CategoryCount {
                    category: appeal::category_to_proto(category),
                    count: count(*value),
                })
            })
            .collect();
        by_category.sort_by_key(|c| c.category);
        let invited = get(metric::INVITED);
        Ok(pb::Overview {
            jurisdiction_code: code,
            period: period_text,
            appeal_count: count(get(metric::APPEALS)),
            appeals_by_channel: by_channel,
            appeals_by_category: by_category,
            resolved_count: count(get(metric::RESOLVED)),
            solved_count: count(get(metric::SOLVED)),
            on_time_rate: ratio(get(metric::ON_TIME), get(metric::DUE)),
            overdue_count: count(overdue),
            satisfaction_rate: ratio(get(metric::SATISFIED), get(metric::REVIEWS)),
            review_count: count(get(metric::REVIEWS)),
            bad_review_count: count(get(metric::BAD_REVIEWS)),
            unrated_rate: ratio(invited - get(metric::RATED_INVITATIONS), invited),
            rectification_rate: ratio(get(metric::RECTIFIED), get(metric::VALID_BAD_REVIEWS)),
            meeting_count: count(get(metric::MEETINGS)),
            meeting_case_count: count(get(metric::MEETING_CASES)),
            fulfillment_count: count(get(metric::FULFILLMENTS)),
            fulfillment_amount_fen: get(metric::FULFILLMENT_FEN).max(0),
            published_policy_count: count(get(metric::POLICIES_PUBLISHED)),
            adopted_comment_count: count(get(metric::COMMENTS_ADOPTED)),
            compute_time: Some(timestamp(now)),
        })
    }

    pub(super) async fn recompute_period(
        &self,
        principal: &Principal,
        request: pb::RecomputeRequest,
    ) -> Result<pb::RecomputeResponse, Error> {
        self.require_assessor(principal, "重算考核期")?;
        let mut violations = Violations::new();
        let period = violations.check("period", Period::parse(&request.period));
        let request_id = request.request_id.trim();
        convert::request_id(&mut violations, request_id);
        violations.finish()?;
        let period = period.ok_or_else(|| Error::internal("a checked period is missing"))?;
        let core = &self.core;
        let mut tx = core.store.begin_write().await?;
        store::lock_scores(&mut tx, core.store.backend()).await?;
        if let Some(first) = remembered(&mut tx, principal, request_id, "Recompute").await? {
            return Ok(first);
        }
        let rebuilt = core.rebuild(&mut tx, period).await?;
        let now = core.clock.now();
        let response = pb::RecomputeResponse {
            period: rebuilt.period.clone(),
            scorecard_count: rebuilt.scorecard_count,
            matched: rebuilt.mismatched_unit_ids.is_empty(),
            mismatched_unit_ids: rebuilt.mismatched_unit_ids,
            compute_time: Some(timestamp(now)),
        };
        if !response.matched {
            tracing::warn!(period = %response.period, units = ?response.mismatched_unit_ids, "the rebuilt scores differ from the incremental ones");
        }
        core.events
            .append(
                &mut tx,
                &response.period,
                &core.city,
                &pb::PeriodRecomputed {
                    result: Some(response.clone()),
                },
            )
            .await?;
        remember(&mut tx, principal, request_id, "Recompute", &response, now).await?;
        tx.commit().await?;
        core.events.wake();
        Ok(response)
    }
}
