//! The indicator model (考核指标体系): replacing it, versioned, by an assessor.

use super::*;
impl ScoringApi {
    pub(super) async fn put_model(
        &self,
        principal: &Principal,
        request: pb::PutIndicatorModelRequest,
    ) -> Result<pb::IndicatorModel, Error> {
        self.require_assessor(principal, "设置考核指标模型")?;
        let (period, mut model) = convert::model_from_request(&request)?;
        let period_text = period.to_string();
        let request_id = request.request_id.trim();
        let core = &self.core;
        let mut tx = core.store.begin_write().await?;
        store::lock_scores(&mut tx, core.store.backend()).await?;
        if let Some(first) = remembered(&mut tx, principal, request_id, "PutIndicatorModel").await?
        {
            return Ok(first);
        }
        let current = store::model_of(&mut tx, &period_text).await?;
        let current_etag = current
            .as_ref()
            .map(convert::model_etag)
            .unwrap_or_default();
        if request.etag.trim() != current_etag {
            return Err(match current_etag.as_str() {
                "" => Error::Aborted(format!(
                    "period {period_text} has no model of its own yet; send an empty etag"
                ))
                .zh(format!(
                    "考核期 {period_text} 尚未单独设置指标模型，请刷新后重试"
                )),
                etag => Error::Aborted(format!(
                    "the model of {period_text} changed since it was read (etag is now {etag}); read it again"
                ))
                .zh(format!(
                    "考核期 {period_text} 的指标模型已被他人修改，请刷新后重试"
                )),
            });
        }
        let now = core.clock.now();
        model.period = period_text.clone();
        model.version = current.map_or(1, |m| m.version.saturating_add(1));
        model.updated_by = principal.sub.clone();
        model.update_time = now;
        store::write_model(&mut tx, &model).await?;
        let proto = convert::model_to_proto(&model, &period_text);
        core.events
            .append(
                &mut tx,
                &period_text,
                &core.city,
                &pb::IndicatorModelPut {
                    model: Some(proto.clone()),
                },
            )
            .await?;
        core.rerank_period_and_inside(&mut tx, period).await?;
        remember(
            &mut tx,
            principal,
            request_id,
            "PutIndicatorModel",
            &proto,
            now,
        )
        .await?;
        tx.commit().await?;
        core.events.wake();
        Ok(proto)
    }
}
