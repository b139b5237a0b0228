//! Alerts (督办、约谈提醒): inaction and bad-review notices, leaders called in,
//! with the acceptance numbers they rest on.

use super::*;
impl ScoringApi {
    pub(super) async fn alerts(
        &self,
        principal: &Principal,
        request: pb::ListAlertsRequest,
    ) -> Result<pb::ListAlertsResponse, Error> {
        let mut violations = Violations::new();
        let period = match non_empty(&request.period) {
            Some(text) => violations
                .check("period", Period::parse(text))
                .map(|p| p.to_string()),
            None => None,
        };
        let kind = match request.kind {
            0 => None,
            value => {
                let kind = convert::alert_kind(value);
                if kind.is_none() {
                    violations.add(
                        "kind",
                        Why::new(
                            "must be BAD_REVIEW_NOTICE, INACTION_NOTICE or LEADER_INTERVIEW",
                            "请选择差评通报、不作为通报或约谈",
                        ),
                    );
                }
                kind
            }
        };
        let unit_id =
            fields::optional_text(&mut violations, "unit_id", &request.unit_id, MAX_UNIT_ID);
        let unit_id = non_empty(&unit_id).map(str::to_owned);
        let limit = violations.check("page_size", ids::page_size(request.page_size));
        violations.finish()?;
        let limit = limit.ok_or_else(|| Error::internal("a checked page size is missing"))?;
        let scope = self.scope(principal);
        let jurisdictions = match (non_empty(&request.jurisdiction_code), &scope) {
            (None, Scope::Everything) => None,
            (None, Scope::Jurisdictions(codes)) => {
                Some(codes.iter().map(|c| c.as_str().to_owned()).collect())
            }
            (None, Scope::Enterprise(_) | Scope::Nothing) => {
                return Err(Error::PermissionDenied(
                    "your token names no known jurisdiction".into(),
                )
                .zh("您的登录凭证未指明所属辖区，无法查看"));
            }
            (Some(requested), _) => {
                let code = self.jurisdiction(principal, &scope, requested)?;
                Some(self.descendants(&code))
            }
        };
        let filters = format!(
            "{}|{}|{}|{}",
            period.as_deref().unwrap_or(""),
            kind.map_or("", |k| k.as_str()),
            request.jurisdiction_code.trim(),
            unit_id.as_deref().unwrap_or("")
        );
        let after = PageToken::decode(&request.page_token, &filters)?.map(|t| (t.sort_key, t.id));
        let filter = AlertFilter {
            period,
            kind,
            jurisdictions,
            unit_id,
            after,
        };
        let mut conn = self.core.store.pool().acquire().await?;
        let alerts = store::list_alerts(&mut conn, &filter, limit).await?;
        let (alerts, next_page_token) = ids::paginate(alerts, limit, &filters, |a| PageToken {
            sort_key: a.create_time,
            id: a.id.clone(),
        });
        // Each case behind a notice by its acceptance number, for people.
        let fact_ids: Vec<String> = alerts.iter().flat_map(|a| a.fact_ids.clone()).collect();
        let numbers = store::case_numbers(&mut conn, &fact_ids).await?;
        Ok(pb::ListAlertsResponse {
            alerts: alerts
                .iter()
                .map(|alert| pb::Alert {
                    case_numbers: alert
                        .fact_ids
                        .iter()
                        .filter_map(|id| numbers.get(id).map(|n| (id.clone(), n.clone())))
                        .collect(),
                    ..convert::alert_to_proto(alert)
                })
                .collect(),
            next_page_token,
        })
    }
}
