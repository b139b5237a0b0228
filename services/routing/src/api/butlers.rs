//! Key enterprises' butlers (项目管家): named or replaced, and listed.

use super::*;
pub(super) async fn assign_butler(
    api: &RoutingApi,
    request: Request<pb::AssignButlerRequest>,
) -> Result<Response<pb::Butler>, Status> {
    let principal = access::principal(&request)?.clone();
    let request = convert::butler_request(request.into_inner())?;
    let store = &api.core.store;
    let existing = store.get_butler(&request.uscc).await?;
    let latest = store.latest_case_of(&request.uscc).await?;
    // The enterprise belongs where it is registered (else where its
    // appeals go): the stored owner, never a jurisdiction the request names.
    let owner = match store.enterprise_jurisdiction(&request.uscc).await? {
        Some(code) => code,
        None => latest
            .as_ref()
            .map(|c| c.jurisdiction_code.clone())
            .ok_or_else(|| {
                Error::NotFound(format!(
                    "企业 {}（enterprise {0}, neither registered nor with an appeal）",
                    request.uscc
                ))
                .zh(format!(
                    "未找到企业 {}：该企业既未登记，也没有提交过诉求",
                    request.uscc
                ))
            })?,
    };
    let directory = &api.core.directory;
    let owner = directory
        .parse_known(&owner)
        .map_err(|e| Error::internal(format!("stored jurisdiction {owner}: {e}")))?;
    let scope = api.scope(&principal);
    if !scope.covers_jurisdiction(owner.as_str()) {
        return Err(Error::PermissionDenied(format!(
            "企业 {} 属于 {owner}，不在您的辖区（the enterprise is outside your jurisdiction）",
            request.uscc
        ))
        .zh(format!(
            "企业 {} 属于{}，不在您的辖区",
            request.uscc,
            api.jurisdiction_name(owner.as_str())
        ))
        .into());
    }
    // The official serves where asked — the enterprise's own jurisdiction
    // or one above it (a city butler of a county's key project) — else
    // where the butler served before, else where the enterprise is.
    let serving = non_empty(&request.jurisdiction_code)
        .or_else(|| existing.as_ref().map(|b| b.jurisdiction_code.clone()))
        .unwrap_or_else(|| owner.as_str().to_owned());
    let code = directory
        .parse_known(&serving)
        .map_err(|e| Error::invalid("jurisdiction_code", e))?;
    if !directory.covers(&code, &owner) || !scope.covers_jurisdiction(code.as_str()) {
        return Err(Error::invalid(
            "jurisdiction_code",
            Why::new(
                format!(
                    "管家须在企业所在辖区 {owner} 或其上级、且在您的辖区内任职（the butler serves in {owner} or above it, within your jurisdiction）"
                ),
                format!(
                    "管家须在企业所在辖区（{}）或其上级、且在您的辖区内任职",
                    api.jurisdiction_name(owner.as_str())
                ),
            ),
        )
        .into());
    }
    if let Some(current) = &existing
        && !request.etag.is_empty()
        && request.etag != crate::domain::etag(current.version)
    {
        return Err(Error::Aborted(format!(
            "the butler of {} changed since it was read; read it again",
            request.uscc
        ))
        .zh(format!(
            "企业 {} 的管家已被他人修改，请刷新后重试",
            request.uscc
        ))
        .into());
    }
    let now = api.core.clock.now();
    let enterprise_name = latest
        .as_ref()
        .map(|c| c.enterprise_name.clone())
        .or_else(|| existing.as_ref().map(|b| b.enterprise_name.clone()))
        .unwrap_or_default();
    let butler = Butler {
        uscc: request.uscc.clone(),
        enterprise_name,
        jurisdiction_code: code.as_str().to_owned(),
        official: request.official.clone(),
        official_name: request.official_name.clone(),
        official_phone: request.official_phone.clone(),
        kind: request.kind,
        version: existing.as_ref().map_or(1, |b| b.version + 1),
        create_time: existing.as_ref().map_or(now, |b| b.create_time),
        update_time: now,
    };
    let previous = existing
        .as_ref()
        .map(|b| b.official.clone())
        .unwrap_or_default();
    let butler = store
        .assign_butler(
            &butler,
            existing.as_ref().map(|b| b.version),
            &previous,
            &Actor {
                sub: principal.sub.clone(),
            },
            &request.request_id,
        )
        .await?;
    Ok(Response::new(convert::butler_to_proto(&butler)))
}

pub(super) async fn list_butlers(
    api: &RoutingApi,
    request: Request<pb::ListButlersRequest>,
) -> Result<Response<pb::ListButlersResponse>, Status> {
    let principal = access::principal(&request)?.clone();
    let request = request.into_inner();
    let scope = api.scope(&principal);
    let official = non_empty(&request.official);
    // An official may always list their own enterprises.
    let jurisdictions = if official.as_deref() == Some(principal.sub.as_str())
        && request.jurisdiction_code.trim().is_empty()
    {
        None
    } else {
        api.visible_jurisdictions(&scope, &request.jurisdiction_code)?
    };
    let uscc = non_empty(&request.uscc);
    let limit = ids::page_size(request.page_size)?;
    let fingerprint = format!("{}|{jurisdictions:?}|{official:?}|{uscc:?}", principal.sub);
    let after = PageToken::decode(&request.page_token, &fingerprint)?;
    let butlers = api
        .core
        .store
        .list_butlers(
            jurisdictions.as_deref(),
            official.as_deref(),
            uscc.as_deref(),
            limit + 1,
            after.as_ref(),
        )
        .await?;
    let (page, next_page_token) = ids::paginate(butlers, limit, &fingerprint, |last| PageToken {
        sort_key: 0,
        id: last.uscc.clone(),
    });
    Ok(Response::new(pb::ListButlersResponse {
        butlers: page.iter().map(convert::butler_to_proto).collect(),
        next_page_token,
    }))
}
