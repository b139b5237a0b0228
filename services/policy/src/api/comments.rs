//! Enterprises' comments on a draft in consultation and the drafters' answers
//! (采纳情况).

use super::*;
/// The comment an earlier attempt of a retried request wrote.
pub(super) async fn replay_comment(
    conn: &mut AnyConnection,
    id: &str,
) -> Result<pb::Comment, Error> {
    let comment = store::select_comment(conn, id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("comment {id}")).zh("未找到该意见"))?;
    Ok(convert::comment_to_proto(&comment, true))
}

pub(super) async fn submit_comment(
    api: &PolicyApi,
    request: Request<pb::SubmitCommentRequest>,
) -> Result<Response<pb::Comment>, Status> {
    let principal = access::principal(&request)?.clone();
    let uscc = own_uscc(&principal)?;
    let req = request.into_inner();
    let scope = api.scope(&principal);
    let mut v = Violations::new();
    fields::request_id(&mut v, &req.request_id);
    fields::id(&mut v, "policy_id", &req.policy_id);
    text(&mut v, "article", &req.article, 20, false);
    text(&mut v, "text", &req.text, MAX_MESSAGE, true);
    v.finish()?;
    let now = api.now();
    let mut work = api
        .work(&principal, &req.request_id, "SubmitComment", now)
        .await?;
    if let Some(subject) = work.recall().await? {
        return Ok(Response::new(replay_comment(work.conn(), &subject).await?));
    }
    let policy = api
        .latest_for_write(work.conn(), &scope, "policy_id", &req.policy_id)
        .await?;
    let article = req.article.trim();
    rules::check_comment(&policy, article, now)?;
    let name = enterprise_name(work.conn(), &uscc, &principal).await?;
    let comment = Comment {
        id: ids::new_id(&policy.jurisdiction_code),
        policy_id: policy.id.clone(),
        policy_version: policy.version,
        jurisdiction_code: policy.jurisdiction_code.clone(),
        article: article.to_owned(),
        text: req.text.clone(),
        uscc,
        enterprise_name: name,
        author: principal.sub.clone(),
        disposition: None,
        reply: String::new(),
        replied_by: String::new(),
        reply_time: None,
        create_time: now,
        revision: 1,
    };
    store::insert_comment(work.conn(), &comment).await?;
    let proto = convert::comment_to_proto(&comment, true);
    let event = NewEvent::new(
        &comment.policy_id,
        &comment.jurisdiction_code,
        &pb::CommentSubmitted {
            comment: Some(proto.clone()),
        },
    );
    api.finish_keyed(work, &comment.id, vec![event]).await?;
    Ok(Response::new(proto))
}

pub(super) async fn respond_to_comment(
    api: &PolicyApi,
    request: Request<pb::RespondToCommentRequest>,
) -> Result<Response<pb::Comment>, Status> {
    let principal = access::principal(&request)?.clone();
    let req = request.into_inner();
    let scope = api.scope(&principal);
    let mut v = Violations::new();
    fields::id(&mut v, "comment_id", &req.comment_id);
    fields::request_id(&mut v, &req.request_id);
    let disposition = fields::required_enum(
        &mut v,
        "disposition",
        req.disposition,
        convert::disposition_from,
    );
    text(&mut v, "reply", &req.reply, MAX_MESSAGE, true);
    v.finish()?;
    let now = api.now();
    let mut work = api
        .work(&principal, &req.request_id, "RespondToComment", now)
        .await?;
    if let Some(subject) = work.recall().await? {
        return Ok(Response::new(replay_comment(work.conn(), &subject).await?));
    }
    let missing =
        || Error::NotFound(format!("comment {}", req.comment_id)).zh("未找到该意见，或您无权查看");
    let mut comment = store::select_comment(work.conn(), &req.comment_id)
        .await?
        .ok_or_else(missing)?;
    let policy = store::select_version(work.conn(), &comment.policy_id, comment.policy_version)
        .await?
        .ok_or_else(missing)?;
    if !api.can_read(&scope, &policy) {
        return Err(missing().into());
    }
    api.check_write(&principal, &scope, &policy)?;
    rules::check_respond(&policy)?;
    check_etag(
        &req.etag,
        &comment.etag(),
        &format!("comment {}", comment.id),
        "该意见",
    )?;
    let expected = comment.revision;
    comment.disposition = disposition;
    comment.reply = req.reply.clone();
    comment.replied_by = principal.sub.clone();
    comment.reply_time = Some(now);
    comment.revision += 1;
    store::update_comment(work.conn(), &comment, expected).await?;
    let proto = convert::comment_to_proto(&comment, true);
    let event = NewEvent::new(
        &comment.policy_id,
        &comment.jurisdiction_code,
        &pb::CommentResponded {
            comment: Some(proto.clone()),
        },
    );
    api.finish_keyed(work, &comment.id, vec![event]).await?;
    Ok(Response::new(proto))
}

pub(super) async fn list_comments(
    api: &PolicyApi,
    request: Request<pb::ListCommentsRequest>,
) -> Result<Response<pb::ListCommentsResponse>, Status> {
    let principal = access::principal(&request)?.clone();
    let req = request.into_inner();
    let scope = api.scope(&principal);
    let mut v = Violations::new();
    let limit = v.check("page_size", ids::page_size(req.page_size));
    fields::id(&mut v, "policy_id", &req.policy_id);
    if req.policy_version < 0 {
        v.add("policy_version", Problem::Negative);
    }
    let disposition = fields::optional_enum(
        &mut v,
        "disposition",
        req.disposition,
        convert::disposition_from,
    );
    fields::optional_id(&mut v, "uscc", &req.uscc);
    let filters = format!(
        "{}|{}|{:?}|{}|{}",
        req.policy_id, req.policy_version, disposition, req.unanswered_only, req.uscc
    );
    let after = v.check("page_token", PageToken::decode(&req.page_token, &filters));
    v.finish()?;
    let limit = limit.unwrap_or(ids::DEFAULT_PAGE_SIZE);
    let mut conn = api.conn().await?;
    let versions = api
        .versions(&mut conn, &scope, "policy_id", &req.policy_id)
        .await?;
    let jurisdiction = versions[0].jurisdiction_code.clone();
    let government = scope.covers_jurisdiction(&jurisdiction);
    let own = match &scope {
        Scope::Enterprise(uscc) => Some(uscc.clone()),
        _ => None,
    };
    let mut filter = Filter::new();
    filter.eq("policy_id", req.policy_id.clone().into());
    if req.policy_version > 0 {
        filter.eq("policy_version", i64::from(req.policy_version).into());
    }
    if let Some(d) = disposition {
        filter.eq("disposition", d.as_str().into());
    }
    if req.unanswered_only {
        filter.and(|_| "disposition IS NULL".to_owned());
    }
    if !req.uscc.is_empty() {
        filter.eq("uscc", req.uscc.clone().into());
    }
    if !government {
        // Replies are public once their version is published; an
        // enterprise also sees its own comments at any time.
        let public: Vec<i64> = versions
            .iter()
            .filter(|p| {
                matches!(
                    p.state,
                    PolicyState::Published | PolicyState::Superseded | PolicyState::Repealed
                )
            })
            .map(|p| i64::from(p.version))
            .collect();
        let own = own.clone().unwrap_or_default();
        filter.and(|p| {
            let mut parts = vec![format!("uscc = {}", p(SqlValue::Text(own)))];
            if !public.is_empty() {
                let list: Vec<String> = public.iter().map(|v| p(SqlValue::Int(*v))).collect();
                parts.push(format!("policy_version IN ({})", list.join(", ")));
            }
            format!("({})", parts.join(" OR "))
        });
    }
    let comments = store::list_comments(&mut conn, filter, after.flatten(), limit).await?;
    let (comments, next_page_token) = ids::paginate(comments, limit, &filters, |c| PageToken {
        sort_key: c.create_time,
        id: c.id.clone(),
    });
    Ok(Response::new(pb::ListCommentsResponse {
        comments: comments
            .iter()
            .map(|c| {
                let shown = government || own.as_deref() == Some(c.uscc.as_str());
                convert::comment_to_proto(c, shown)
            })
            .collect(),
        next_page_token,
    }))
}
