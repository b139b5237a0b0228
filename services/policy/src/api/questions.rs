//! Enterprises' questions about a policy (政策问答) and their answers.

use super::*;
/// The question an earlier attempt of a retried request wrote.
pub(super) async fn replay_question(
    conn: &mut AnyConnection,
    id: &str,
) -> Result<pb::Question, Error> {
    let question = store::select_question(conn, id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("question {id}")).zh("未找到该咨询"))?;
    Ok(convert::question_to_proto(&question, true))
}

pub(super) async fn ask_question(
    api: &PolicyApi,
    request: Request<pb::AskQuestionRequest>,
) -> Result<Response<pb::Question>, Status> {
    let principal = access::principal(&request)?.clone();
    let uscc = own_uscc(&principal)?;
    let req = request.into_inner();
    let scope = api.scope(&principal);
    let mut v = Violations::new();
    fields::request_id(&mut v, &req.request_id);
    fields::id(&mut v, "policy_id", &req.policy_id);
    text(&mut v, "text", &req.text, MAX_MESSAGE, true);
    v.finish()?;
    let now = api.now();
    let mut work = api
        .work(&principal, &req.request_id, "AskQuestion", now)
        .await?;
    if let Some(subject) = work.recall().await? {
        return Ok(Response::new(replay_question(work.conn(), &subject).await?));
    }
    let policy = api
        .latest_for_write(work.conn(), &scope, "policy_id", &req.policy_id)
        .await?;
    let name = enterprise_name(work.conn(), &uscc, &principal).await?;
    let question = Question {
        id: ids::new_id(&policy.jurisdiction_code),
        policy_id: policy.id.clone(),
        jurisdiction_code: policy.jurisdiction_code.clone(),
        text: req.text.clone(),
        uscc,
        enterprise_name: name,
        asker: principal.sub.clone(),
        answer: String::new(),
        answered_by: String::new(),
        answer_time: None,
        public: false,
        create_time: now,
        revision: 1,
    };
    store::insert_question(work.conn(), &question).await?;
    let proto = convert::question_to_proto(&question, true);
    let event = NewEvent::new(
        &question.id,
        &question.jurisdiction_code,
        &pb::QuestionAsked {
            question: Some(proto.clone()),
        },
    );
    api.finish_keyed(work, &question.id, vec![event]).await?;
    Ok(Response::new(proto))
}

pub(super) async fn answer_question(
    api: &PolicyApi,
    request: Request<pb::AnswerQuestionRequest>,
) -> Result<Response<pb::Question>, Status> {
    let principal = access::principal(&request)?.clone();
    let req = request.into_inner();
    let scope = api.scope(&principal);
    let mut v = Violations::new();
    fields::id(&mut v, "question_id", &req.question_id);
    fields::request_id(&mut v, &req.request_id);
    text(&mut v, "answer", &req.answer, MAX_MESSAGE, true);
    v.finish()?;
    let now = api.now();
    let mut work = api
        .work(&principal, &req.request_id, "AnswerQuestion", now)
        .await?;
    if let Some(subject) = work.recall().await? {
        return Ok(Response::new(replay_question(work.conn(), &subject).await?));
    }
    let missing = || {
        Error::NotFound(format!("question {}", req.question_id)).zh("未找到该咨询，或您无权查看")
    };
    let mut question = store::select_question(work.conn(), &req.question_id)
        .await?
        .ok_or_else(missing)?;
    if !scope.covers_jurisdiction(&question.jurisdiction_code) {
        if question.public {
            return Err(Error::PermissionDenied(format!(
                "question {} is for {} to answer",
                question.id, question.jurisdiction_code
            ))
            .zh(format!(
                "该咨询应由{}答复",
                api.place(&question.jurisdiction_code)
            ))
            .into());
        }
        return Err(missing().into());
    }
    check_etag(
        &req.etag,
        &question.etag(),
        &format!("question {}", question.id),
        "该咨询",
    )?;
    let expected = question.revision;
    question.answer = req.answer.clone();
    question.answered_by = principal.sub.clone();
    question.answer_time = Some(now);
    question.public = req.public;
    question.revision += 1;
    store::update_question(work.conn(), &question, expected).await?;
    let proto = convert::question_to_proto(&question, true);
    let event = NewEvent::new(
        &question.id,
        &question.jurisdiction_code,
        &pb::QuestionAnswered {
            question: Some(proto.clone()),
        },
    );
    api.finish_keyed(work, &question.id, vec![event]).await?;
    Ok(Response::new(proto))
}

pub(super) async fn list_questions(
    api: &PolicyApi,
    request: Request<pb::ListQuestionsRequest>,
) -> Result<Response<pb::ListQuestionsResponse>, Status> {
    let principal = access::principal(&request)?.clone();
    let req = request.into_inner();
    let scope = api.scope(&principal);
    let mut v = Violations::new();
    let limit = v.check("page_size", ids::page_size(req.page_size));
    fields::optional_id(&mut v, "policy_id", &req.policy_id);
    fields::optional_id(&mut v, "uscc", &req.uscc);
    let filters = format!(
        "{}|{}|{}|{}",
        req.policy_id, req.unanswered_only, req.uscc, req.public_only
    );
    let after = v.check("page_token", PageToken::decode(&req.page_token, &filters));
    v.finish()?;
    let limit = limit.unwrap_or(ids::DEFAULT_PAGE_SIZE);
    let mut filter = Filter::new();
    match &scope {
        Scope::Everything => {}
        Scope::Jurisdictions(codes) => {
            public_or_within(&mut filter, "public = 1", "jurisdiction_code", codes)
        }
        Scope::Enterprise(own) => {
            let own = own.clone();
            filter.and(|p| format!("(public = 1 OR uscc = {})", p(SqlValue::Text(own))));
        }
        Scope::Nothing => filter.and(|_| "public = 1".to_owned()),
    }
    if !req.policy_id.is_empty() {
        filter.eq("policy_id", req.policy_id.clone().into());
    }
    if !req.uscc.is_empty() {
        filter.eq("uscc", req.uscc.clone().into());
    }
    if req.unanswered_only {
        filter.and(|_| "answer = ''".to_owned());
    }
    if req.public_only {
        filter.and(|_| "public = 1".to_owned());
    }
    let mut conn = api.conn().await?;
    if !req.policy_id.is_empty() {
        // A policy the caller may not read answers NOT_FOUND here too.
        api.versions(&mut conn, &scope, "policy_id", &req.policy_id)
            .await?;
    }
    let questions = store::list_questions(&mut conn, filter, after.flatten(), limit).await?;
    let (questions, next_page_token) = ids::paginate(questions, limit, &filters, |q| PageToken {
        sort_key: q.create_time,
        id: q.id.clone(),
    });
    Ok(Response::new(pb::ListQuestionsResponse {
        questions: questions
            .iter()
            .map(|q| {
                // The asker is named to its jurisdiction and to itself.
                let shown = scope.covers(&q.jurisdiction_code, &q.uscc);
                convert::question_to_proto(q, shown)
            })
            .collect(),
        next_page_token,
    }))
}
