//! An enterprise's policy inbox: the policies pushed to it (政策推送), read or not.

use super::*;
pub(super) async fn list_inbox(
    api: &PolicyApi,
    request: Request<pb::ListInboxRequest>,
) -> Result<Response<pb::ListInboxResponse>, Status> {
    let principal = access::principal(&request)?.clone();
    let req = request.into_inner();
    let scope = api.scope(&principal);
    let mut v = Violations::new();
    let limit = v.check("page_size", ids::page_size(req.page_size));
    fields::optional_id(&mut v, "uscc", &req.uscc);
    let uscc = match &scope {
        Scope::Enterprise(own) => own.clone(),
        _ => req.uscc.clone(),
    };
    let filters = format!("{}|{}", uscc, req.unread_only);
    let after = v.check("page_token", PageToken::decode(&req.page_token, &filters));
    v.finish()?;
    let limit = limit.unwrap_or(ids::DEFAULT_PAGE_SIZE);
    let mut base = Filter::new();
    let jurisdictions = scope.list_jurisdictions(&api.core.directory, "")?;
    base.within("jurisdiction_code", jurisdictions.as_deref());
    if !uscc.is_empty() {
        base.eq("uscc", uscc.clone().into());
    }
    let mut filter = base.clone();
    if req.unread_only {
        filter.and(|_| "read_time IS NULL".to_owned());
    }
    let mut conn = api.conn().await?;
    let items = store::list_inbox(&mut conn, filter, after.flatten(), limit).await?;
    let unread = store::count_unread(&mut conn, base).await?;
    let (items, next_page_token) = ids::paginate(items, limit, &filters, |i| PageToken {
        sort_key: i.push_time,
        id: i.id.clone(),
    });
    Ok(Response::new(pb::ListInboxResponse {
        items: items.iter().map(convert::item_to_proto).collect(),
        next_page_token,
        unread_count: i32::try_from(unread).unwrap_or(i32::MAX),
    }))
}

pub(super) async fn mark_read(
    api: &PolicyApi,
    request: Request<pb::MarkReadRequest>,
) -> Result<Response<pb::MarkReadResponse>, Status> {
    let principal = access::principal(&request)?.clone();
    let uscc = own_uscc(&principal)?;
    let req = request.into_inner();
    let mut v = Violations::new();
    if req.item_ids.is_empty() {
        v.add("item_ids", Problem::Missing);
    } else if req.item_ids.len() > 100 {
        v.add(
            "item_ids",
            Why::new("has more than 100 items", "一次最多标记100条"),
        );
    } else {
        for (i, id) in req.item_ids.iter().enumerate() {
            fields::id(&mut v, &format!("item_ids[{i}]"), id);
        }
    }
    v.finish()?;
    let mut ids: Vec<String> = req.item_ids.clone();
    ids.sort();
    ids.dedup();
    let now = api.now();
    // Marking read is not keyed: doing it twice reads the same.
    let mut work = api.work(&principal, "", "MarkRead", now).await?;
    let items = store::select_items(work.conn(), &ids).await?;
    for id in &ids {
        match items.iter().find(|i| &i.id == id) {
            None => {
                return Err(Error::NotFound(format!("inbox item {id}"))
                    .zh("未找到该推送消息")
                    .into());
            }
            Some(item) if item.uscc != uscc => {
                return Err(Error::PermissionDenied(format!(
                    "inbox item {id} is not your enterprise's"
                ))
                .zh("该推送消息不属于贵企业")
                .into());
            }
            Some(_) => {}
        }
    }
    let mut newly = Vec::new();
    for id in &ids {
        if store::mark_read(work.conn(), id, now).await? {
            newly.push(id.clone());
        }
    }
    let mut events = Vec::new();
    if !newly.is_empty() {
        let jurisdiction = items
            .first()
            .map(|i| i.jurisdiction_code.clone())
            .unwrap_or_default();
        events.push(NewEvent::new(
            &uscc,
            &jurisdiction,
            &pb::InboxItemsRead {
                uscc: uscc.clone(),
                item_ids: newly,
            },
        ));
    }
    let items = store::select_items(work.conn(), &ids).await?;
    api.finish_keyed(work, "", events).await?;
    let mut ordered = Vec::new();
    for id in &req.item_ids {
        if let Some(item) = items.iter().find(|i| &i.id == id)
            && !ordered.iter().any(|o: &pb::InboxItem| o.id == item.id)
        {
            ordered.push(convert::item_to_proto(item));
        }
    }
    Ok(Response::new(pb::MarkReadResponse { items: ordered }))
}
