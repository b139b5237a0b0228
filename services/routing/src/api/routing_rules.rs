//! The routing rules (分办规则) that propose a department for a new case.

use super::*;
pub(super) async fn list_routing_rules(
    api: &RoutingApi,
    request: Request<pb::ListRoutingRulesRequest>,
) -> Result<Response<pb::ListRoutingRulesResponse>, Status> {
    let principal = access::principal(&request)?.clone();
    let request = request.into_inner();
    let requested = non_empty(&request.jurisdiction_code)
        .or_else(|| principal.jurisdiction.clone())
        .unwrap_or_else(|| api.core.city.clone());
    let code = api
        .core
        .directory
        .parse_known(&requested)
        .map_err(|e| Error::invalid("jurisdiction_code", e))?;
    // The rules that route the jurisdiction's cases: its own and those above it.
    let jurisdictions = api.core.ancestry(code.as_str());
    let limit = ids::page_size(request.page_size)?;
    let mut v = Violations::new();
    let category = fields::optional_enum(&mut v, "category", request.category, convert::category);
    v.finish()?;
    let fingerprint = format!(
        "{}|{}|{}|{}",
        principal.sub, code, request.category, request.show_disabled
    );
    let after = PageToken::decode(&request.page_token, &fingerprint)?;
    let rules = api
        .core
        .store
        .list_rules(
            &jurisdictions,
            category,
            request.show_disabled,
            limit + 1,
            after.as_ref(),
        )
        .await?;
    let (page, next_page_token) = ids::paginate(rules, limit, &fingerprint, |last| PageToken {
        sort_key: 0,
        id: last.id.clone(),
    });
    Ok(Response::new(pb::ListRoutingRulesResponse {
        routing_rules: page.iter().map(convert::rule_to_proto).collect(),
        next_page_token,
    }))
}

pub(super) async fn put_routing_rule(
    api: &RoutingApi,
    request: Request<pb::PutRoutingRuleRequest>,
) -> Result<Response<pb::RoutingRule>, Status> {
    let principal = access::principal(&request)?.clone();
    let request = request.into_inner();
    let directory = &api.core.directory;
    let mut rule = convert::rule(request.routing_rule, |code| {
        directory.parse_known(code).map(|_| ()).map_err(Why::from)
    })?;
    held(&api.core, "routing_rule.meeting_type", rule.meeting_type)?;
    if !rule.department_id.is_empty()
        && api.core.departments.parse_id(&rule.department_id).is_none()
    {
        return Err(Error::invalid(
            "routing_rule.department_id",
            Why::new(
                format!("{} is not a known department", rule.department_id),
                format!("部门 {} 不存在", rule.department_id),
            ),
        )
        .into());
    }
    if !api
        .scope(&principal)
        .covers_jurisdiction(&rule.jurisdiction_code)
    {
        return Err(Error::PermissionDenied(format!(
            "the routing rules of {} are outside your jurisdiction",
            rule.jurisdiction_code
        ))
        .zh(format!(
            "{}的分办规则不在您的辖区内，您无权修改",
            api.jurisdiction_name(&rule.jurisdiction_code)
        ))
        .into());
    }
    let now = api.core.clock.now();
    let existing = match rule.id.as_str() {
        "" => None,
        id => api.core.store.get_rule(id).await?,
    };
    let etag = request.etag.trim();
    let expected = match &existing {
        Some(current) => {
            if current.jurisdiction_code != rule.jurisdiction_code {
                return Err(Error::invalid(
                    "routing_rule.jurisdiction_code",
                    Why::new(
                        format!(
                            "rule {} belongs to {}; a rule does not move",
                            current.id, current.jurisdiction_code
                        ),
                        format!(
                            "该分办规则属于{}，不能改为其他辖区的规则",
                            api.jurisdiction_name(&current.jurisdiction_code)
                        ),
                    ),
                )
                .into());
            }
            if !etag.is_empty() && etag != crate::domain::etag(current.version) {
                return Err(Error::Aborted(format!(
                    "routing rule {} changed since it was read; read it again",
                    current.id
                ))
                .zh("该分办规则已被他人修改，请刷新后重试")
                .into());
            }
            rule.version = current.version + 1;
            Some(current.version)
        }
        None => {
            if rule.id.is_empty() {
                rule.id = ids::new_id(&rule.jurisdiction_code);
            } else if ids::jurisdiction_of(&rule.id) != Some(rule.jurisdiction_code.as_str()) {
                return Err(Error::invalid(
                    "routing_rule.id",
                    Why::new(
                        format!(
                            "must start with the rule's jurisdiction {}- or be empty",
                            rule.jurisdiction_code
                        ),
                        format!(
                            "规则编号须以所属辖区代码“{}-”开头，或留空由系统生成",
                            rule.jurisdiction_code
                        ),
                    ),
                )
                .into());
            }
            rule.version = 1;
            None
        }
    };
    rule.update_time = now;
    rule.updated_by = principal.sub.clone();
    let rule = api.core.store.put_rule(&rule, expected).await?;
    api.core.rules_changed();
    Ok(Response::new(convert::rule_to_proto(&rule)))
}
