//! The tonic implementation of `zhengqi.policy.v1.PolicyService`: proto in,
//! proto out; the rules are in `domain`, the data in `store`.
//!
//! Who may call each method is declared once, on the method in
//! `proto/zhengqi/policy/v1/policy.proto` (`zhengqi.common.v1.access`), and
//! checked before a handler runs; here the scope: drafts and their answers
//! within the issuing jurisdiction (a handler only for its department's
//! policies), an enterprise's comments, questions and ratings for its own
//! credit code, and published material for everyone.

use std::sync::Arc;

use sqlx::AnyConnection;
use tonic::{Request, Response, Status};
use zhengqi_proto::zhengqi::common::v1::WatchEventsRequest;
use zhengqi_proto::zhengqi::policy::v1 as pb;
use zhengqi_proto::zhengqi::policy::v1::policy_service_server::PolicyService;
use zhengqi_shared::access::{self, Scope};
use zhengqi_shared::auth::{Principal, Role};
use zhengqi_shared::events::{self, EventStream, NewEvent};
use zhengqi_shared::ids::{self, PageToken};
use zhengqi_shared::reference::{JurisdictionCode, Uscc};
use zhengqi_shared::storage::{Filter, SqlValue};
use zhengqi_shared::{Error, Violations};

use crate::Core;
use crate::convert::{self, check_key, check_text};
use crate::domain::rules;
use crate::domain::{
    Comment, Fulfillment, FulfillmentKind, Policy, PolicyRating, PolicyState, Question,
};
use crate::store;

/// The longest comment, question, answer or reply.
const MAX_MESSAGE: usize = 5_000;

pub struct PolicyApi {
    core: Arc<Core>,
}

type Tx = sqlx::Transaction<'static, sqlx::Any>;

fn split_subject(subject: &str) -> (String, i32) {
    match subject.rsplit_once('#') {
        Some((id, version)) => (id.to_owned(), version.parse().unwrap_or(0)),
        None => (subject.to_owned(), 0),
    }
}

fn subject_of(policy: &Policy) -> String {
    format!("{}#{}", policy.id, policy.version)
}

fn check_etag(given: &str, current: &str, what: &str) -> Result<(), Error> {
    if !given.is_empty() && given != current {
        return Err(Error::Aborted(format!(
            "{what} changed since it was read (etag {given} is now {current}); read it again"
        )));
    }
    Ok(())
}

fn not_found(id: &str) -> Error {
    Error::NotFound(format!("policy {id}"))
}

/// The enterprise credit code of an enterprise caller.
fn own_uscc(principal: &Principal) -> Result<String, Error> {
    principal
        .uscc
        .clone()
        .filter(|u| !u.is_empty())
        .ok_or_else(|| {
            Error::PermissionDenied("your token carries no enterprise credit code".into())
        })
}

/// The idempotency key of one write: who asked, their `request_id`, and the method.
struct Key {
    actor: String,
    request_id: String,
    method: &'static str,
}

impl Key {
    fn new(actor: &str, request_id: &str, method: &'static str) -> Self {
        Self {
            actor: actor.to_owned(),
            request_id: request_id.to_owned(),
            method,
        }
    }
}

impl PolicyApi {
    pub fn new(core: Arc<Core>) -> Self {
        Self { core }
    }

    fn scope(&self, principal: &Principal) -> Scope {
        Scope::of(principal, &self.core.directory)
    }

    fn now(&self) -> i64 {
        self.core.clock.now()
    }

    async fn begin(&self) -> Result<Tx, Error> {
        self.core.store.begin_write().await
    }

    /// Appends the events and commits.
    async fn finish(&self, mut tx: Tx, events: Vec<NewEvent>) -> Result<(), Error> {
        match self.core.events.append_all(&mut tx, &events).await? {
            Some(last) => self.core.events.commit(tx, last).await,
            None => {
                tx.commit().await?;
                Ok(())
            }
        }
    }

    /// The subject an earlier attempt with `key` wrote; `None` when it is new.
    async fn recall(&self, tx: &mut Tx, key: &Key) -> Result<Option<String>, Error> {
        store::REQUESTS
            .recall(tx, &key.actor, &key.request_id, key.method, None)
            .await
    }

    /// Keeps `key` with the `subject` written, appends the events and commits.
    async fn finish_keyed(
        &self,
        mut tx: Tx,
        key: &Key,
        subject: &str,
        now: i64,
        events: Vec<NewEvent>,
    ) -> Result<(), Error> {
        store::REQUESTS
            .remember(
                &mut tx,
                &key.actor,
                &key.request_id,
                key.method,
                subject,
                now,
            )
            .await?;
        self.finish(tx, events).await
    }

    /// Keeps `key`, appends the event `event_of` makes of the version
    /// written, commits, and answers with that version.
    async fn finish_policy<M: zhengqi_proto::events::Logged>(
        &self,
        tx: Tx,
        key: &Key,
        policy: &Policy,
        now: i64,
        event_of: impl FnOnce(Option<pb::Policy>) -> M,
    ) -> Result<Response<pb::Policy>, Status> {
        let proto = convert::policy_to_proto(policy);
        let event = policy_event(policy, &event_of(Some(proto.clone())));
        self.finish_keyed(tx, key, &subject_of(policy), now, vec![event])
            .await?;
        Ok(Response::new(proto))
    }

    async fn conn(&self) -> Result<sqlx::pool::PoolConnection<sqlx::Any>, Error> {
        Ok(self.core.store.pool().acquire().await?)
    }

    /// Whether the caller may read this version: public ones for everyone,
    /// drafts for government roles of the issuing jurisdiction.
    fn can_read(&self, scope: &Scope, policy: &Policy) -> bool {
        policy.is_public() || scope.covers_jurisdiction(&policy.jurisdiction_code)
    }

    /// The caller may change this policy: a role of `roles`, the issuing
    /// jurisdiction in scope, and a handler only for their department's.
    fn check_write(
        &self,
        principal: &Principal,
        scope: &Scope,
        policy: &Policy,
    ) -> Result<(), Error> {
        if !scope.covers_jurisdiction(&policy.jurisdiction_code) {
            return Err(Error::PermissionDenied(format!(
                "policy {} of {} is outside your jurisdiction",
                policy.id, policy.jurisdiction_code
            )));
        }
        check_department(principal, &policy.draft.department_id)
    }

    /// Every version of the policy `id` (named `field` in the request) when
    /// the caller may see at least one of them; `NOT_FOUND` otherwise.
    async fn versions(
        &self,
        conn: &mut AnyConnection,
        scope: &Scope,
        field: &str,
        id: &str,
    ) -> Result<Vec<Policy>, Error> {
        let mut v = Violations::new();
        check_key(&mut v, field, id, true);
        v.finish()?;
        let versions = store::select_versions(conn, id).await?;
        if versions.is_empty() || !versions.iter().any(|p| self.can_read(scope, p)) {
            return Err(not_found(id));
        }
        Ok(versions)
    }

    /// The policy's latest version, which a writer acts on.
    async fn latest_for_write(
        &self,
        conn: &mut AnyConnection,
        scope: &Scope,
        field: &str,
        id: &str,
    ) -> Result<Policy, Error> {
        // A writer out of scope learns no more than a reader would.
        let mut versions = self.versions(conn, scope, field, id).await?;
        versions.pop().ok_or_else(|| not_found(id))
    }

    /// The jurisdictions in `applicability` must lie within the issuing one.
    fn check_area(&self, issuing: &str, policy: &Policy, v: &mut Violations) {
        let Ok(issuing_code) = self.core.directory.parse_known(issuing) else {
            return;
        };
        for (i, code) in policy
            .draft
            .applicability
            .jurisdiction_codes
            .iter()
            .enumerate()
        {
            let field = format!("policy.applicability.jurisdiction_codes[{i}]");
            match self.core.directory.parse_known(code) {
                Ok(code) if self.core.directory.covers(&issuing_code, &code) => {}
                Ok(_) => v.add(
                    field,
                    format!("is not within the issuing jurisdiction {issuing}"),
                ),
                Err(e) => v.add(field, e),
            }
        }
    }

    /// A policy version returned after a retried request.
    async fn replay_policy(&self, subject: &str) -> Result<pb::Policy, Error> {
        let (id, version) = split_subject(subject);
        let mut conn = self.conn().await?;
        let policy = store::select_version(&mut conn, &id, version)
            .await?
            .ok_or_else(|| not_found(&id))?;
        Ok(convert::policy_to_proto(&policy))
    }

    /// Saves a version changed by a writer and returns it.
    async fn save(&self, tx: &mut Tx, policy: &mut Policy, now: i64) -> Result<(), Error> {
        let expected = policy.revision;
        policy.revision += 1;
        policy.update_time = now;
        let area = self.core.area(policy);
        store::write_policy(tx, policy, &area, Some(expected)).await
    }
}

/// The version in force; `FAILED_PRECONDITION` saying `why` when none is.
fn in_force<'a>(versions: &'a [Policy], id: &str, why: &str) -> Result<&'a Policy, Error> {
    versions
        .iter()
        .rev()
        .find(|p| p.state == PolicyState::Published)
        .ok_or_else(|| Error::FailedPrecondition(format!("policy {id} is not in force; {why}")))
}

/// The name an enterprise registered under, else the one its token carries.
async fn enterprise_name(
    conn: &mut AnyConnection,
    uscc: &str,
    principal: &Principal,
) -> Result<String, Error> {
    Ok(match store::select_enterprise(conn, uscc).await? {
        Some(e) => e.name,
        None => principal.name.clone().unwrap_or_default(),
    })
}

/// The comment an earlier attempt of a retried request wrote.
async fn replay_comment(conn: &mut AnyConnection, id: &str) -> Result<pb::Comment, Error> {
    let comment = store::select_comment(conn, id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("comment {id}")))?;
    Ok(convert::comment_to_proto(&comment, true))
}

/// The question an earlier attempt of a retried request wrote.
async fn replay_question(conn: &mut AnyConnection, id: &str) -> Result<pb::Question, Error> {
    let question = store::select_question(conn, id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("question {id}")))?;
    Ok(convert::question_to_proto(&question, true))
}

fn check_department(principal: &Principal, department_id: &str) -> Result<(), Error> {
    // A handler acts for their own department only; other roles act for the jurisdiction.
    if principal.has_role(Role::Handler)
        && !principal.has_any(&[Role::Coordinator, Role::Leader, Role::Admin, Role::Service])
        && !department_id.is_empty()
        && principal.department.as_deref() != Some(department_id)
    {
        return Err(Error::PermissionDenied(format!(
            "the policy is drafted by department {department_id}, not yours"
        )));
    }
    Ok(())
}

/// `(public OR column IN (codes…))`: what everyone may see, or anything of
/// the caller's jurisdictions.
fn public_or_within(filter: &mut Filter, public: &str, column: &str, codes: &[JurisdictionCode]) {
    filter.and(|p| {
        let list: Vec<String> = codes
            .iter()
            .map(|c| p(SqlValue::Text(c.as_str().to_owned())))
            .collect();
        format!("({public} OR {column} IN ({}))", list.join(", "))
    });
}

fn policy_event<M: zhengqi_proto::events::Logged>(policy: &Policy, message: &M) -> NewEvent {
    NewEvent::new(&policy.id, &policy.jurisdiction_code, message)
}

/// The fields of a draft an update may name.
const UPDATABLE: &[&str] = &[
    "kind",
    "title",
    "document_number",
    "department_id",
    "summary",
    "articles",
    "applicability",
    "effective_time",
    "expire_time",
    "closely_concerns_enterprises",
];

fn apply_path(target: &mut pb::Policy, source: &pb::Policy, path: &str) {
    match path {
        "kind" => target.kind = source.kind,
        "title" => target.title = source.title.clone(),
        "document_number" => target.document_number = source.document_number.clone(),
        "department_id" => target.department_id = source.department_id.clone(),
        "summary" => target.summary = source.summary.clone(),
        "articles" => target.articles = source.articles.clone(),
        "applicability" => target.applicability = source.applicability.clone(),
        "effective_time" => target.effective_time = source.effective_time,
        "expire_time" => target.expire_time = source.expire_time,
        "closely_concerns_enterprises" => {
            target.closely_concerns_enterprises = source.closely_concerns_enterprises
        }
        _ => {}
    }
}

#[tonic::async_trait]
impl PolicyService for PolicyApi {
    async fn create_policy(
        &self,
        request: Request<pb::CreatePolicyRequest>,
    ) -> Result<Response<pb::Policy>, Status> {
        let principal = access::principal(&request)?.clone();
        let req = request.into_inner();
        let scope = self.scope(&principal);
        let mut v = Violations::new();
        check_key(&mut v, "request_id", &req.request_id, false);
        let Some(input) = req.policy.as_ref() else {
            v.add("policy", "is required");
            return Err(v.finish().unwrap_err().into());
        };
        let draft = convert::draft_from_proto(input, "policy.", &mut v);
        let issuing = if input.jurisdiction_code.is_empty() {
            principal.jurisdiction.clone().unwrap_or_default()
        } else {
            input.jurisdiction_code.clone()
        };
        if let Err(e) = self.core.directory.parse_known(&issuing) {
            v.add("policy.jurisdiction_code", e);
        }
        let now = self.now();
        let Some(mut draft) = draft else {
            return Err(v.finish().unwrap_err().into());
        };
        // A handler drafts for its own department, an office for one of its
        // jurisdictions' departments.
        draft.department_id = access::acting_department(&principal, &scope, &draft.department_id)?
            .unwrap_or_default();
        let policy = Policy::new_draft(
            ids::new_id(&issuing),
            1,
            issuing.clone(),
            draft,
            String::new(),
            principal.sub.clone(),
            now,
        );
        self.check_area(&issuing, &policy, &mut v);
        v.finish()?;
        if !scope.covers_jurisdiction(&issuing) {
            return Err(Error::PermissionDenied(format!(
                "jurisdiction {issuing} is outside your jurisdiction"
            ))
            .into());
        }
        check_department(&principal, &policy.draft.department_id)?;
        let mut tx = self.begin().await?;
        let key = Key::new(&principal.sub, &req.request_id, "CreatePolicy");
        if let Some(subject) = self.recall(&mut tx, &key).await? {
            drop(tx);
            return Ok(Response::new(self.replay_policy(&subject).await?));
        }
        let area = self.core.area(&policy);
        store::write_policy(&mut tx, &policy, &area, None).await?;
        self.finish_policy(tx, &key, &policy, now, |policy| pb::PolicyCreated {
            policy,
        })
        .await
    }

    async fn update_policy(
        &self,
        request: Request<pb::UpdatePolicyRequest>,
    ) -> Result<Response<pb::Policy>, Status> {
        let principal = access::principal(&request)?.clone();
        let req = request.into_inner();
        let scope = self.scope(&principal);
        let mut v = Violations::new();
        check_key(&mut v, "request_id", &req.request_id, false);
        let Some(input) = req.policy.as_ref() else {
            v.add("policy", "is required");
            return Err(v.finish().unwrap_err().into());
        };
        check_key(&mut v, "policy.id", &input.id, true);
        let mut paths = Vec::new();
        for (i, path) in req
            .update_mask
            .as_ref()
            .map(|m| m.paths.as_slice())
            .unwrap_or_default()
            .iter()
            .enumerate()
        {
            let name = path.strip_prefix("policy.").unwrap_or(path);
            if UPDATABLE.contains(&name) {
                paths.push(name.to_owned());
            } else {
                v.add(
                    format!("update_mask.paths[{i}]"),
                    format!(
                        "{path:?} is not a field a draft may change; use one of {}",
                        UPDATABLE.join(", ")
                    ),
                );
            }
        }
        v.finish()?;
        if paths.is_empty() {
            paths = UPDATABLE.iter().map(|p| (*p).to_owned()).collect();
        }
        let now = self.now();
        let mut tx = self.begin().await?;
        let key = Key::new(&principal.sub, &req.request_id, "UpdatePolicy");
        if let Some(subject) = self.recall(&mut tx, &key).await? {
            drop(tx);
            return Ok(Response::new(self.replay_policy(&subject).await?));
        }
        let mut policy = self
            .latest_for_write(&mut tx, &scope, "policy.id", &input.id)
            .await?;
        self.check_write(&principal, &scope, &policy)?;
        rules::check_update(&policy)?;
        check_etag(&req.etag, &policy.etag(), &format!("policy {}", policy.id))?;
        let mut merged = convert::policy_to_proto(&policy);
        merged.effective_time = policy
            .draft
            .effective_time
            .map(zhengqi_shared::storage::timestamp);
        for path in &paths {
            apply_path(&mut merged, input, path);
        }
        let mut v = Violations::new();
        let draft = convert::draft_from_proto(&merged, "policy.", &mut v);
        if let Some(draft) = draft {
            policy.draft = draft;
        }
        let issuing = policy.jurisdiction_code.clone();
        self.check_area(&issuing, &policy, &mut v);
        v.finish()?;
        check_department(&principal, &policy.draft.department_id)?;
        self.save(&mut tx, &mut policy, now).await?;
        self.finish_policy(tx, &key, &policy, now, |policy| pb::PolicyUpdated {
            policy,
        })
        .await
    }

    async fn open_consultation(
        &self,
        request: Request<pb::OpenConsultationRequest>,
    ) -> Result<Response<pb::Policy>, Status> {
        let principal = access::principal(&request)?.clone();
        let req = request.into_inner();
        let scope = self.scope(&principal);
        let mut v = Violations::new();
        check_key(&mut v, "id", &req.id, true);
        check_key(&mut v, "request_id", &req.request_id, false);
        let close_time = match &req.close_time {
            Some(t) => convert::micros("close_time", t, &mut v),
            None => {
                v.add("close_time", "is required");
                None
            }
        };
        v.finish()?;
        let close_time = close_time.unwrap_or_default();
        let now = self.now();
        let mut tx = self.begin().await?;
        let key = Key::new(&principal.sub, &req.request_id, "OpenConsultation");
        if let Some(subject) = self.recall(&mut tx, &key).await? {
            drop(tx);
            return Ok(Response::new(self.replay_policy(&subject).await?));
        }
        let mut policy = self
            .latest_for_write(&mut tx, &scope, "id", &req.id)
            .await?;
        self.check_write(&principal, &scope, &policy)?;
        check_etag(&req.etag, &policy.etag(), &format!("policy {}", policy.id))?;
        rules::open_consultation(&mut policy, close_time, now, &self.core.calendar.current())?;
        self.save(&mut tx, &mut policy, now).await?;
        self.finish_policy(tx, &key, &policy, now, |policy| pb::ConsultationOpened {
            policy,
        })
        .await
    }

    async fn submit_comment(
        &self,
        request: Request<pb::SubmitCommentRequest>,
    ) -> Result<Response<pb::Comment>, Status> {
        let principal = access::principal(&request)?.clone();
        let uscc = own_uscc(&principal)?;
        let req = request.into_inner();
        let scope = self.scope(&principal);
        let mut v = Violations::new();
        check_key(&mut v, "request_id", &req.request_id, false);
        check_key(&mut v, "policy_id", &req.policy_id, true);
        check_text(&mut v, "article", &req.article, 20, false);
        check_text(&mut v, "text", &req.text, MAX_MESSAGE, true);
        v.finish()?;
        let now = self.now();
        let mut tx = self.begin().await?;
        let key = Key::new(&principal.sub, &req.request_id, "SubmitComment");
        if let Some(subject) = self.recall(&mut tx, &key).await? {
            return Ok(Response::new(replay_comment(&mut tx, &subject).await?));
        }
        let policy = self
            .latest_for_write(&mut tx, &scope, "policy_id", &req.policy_id)
            .await?;
        let article = req.article.trim();
        rules::check_comment(&policy, article, now)?;
        let name = enterprise_name(&mut tx, &uscc, &principal).await?;
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
        store::insert_comment(&mut tx, &comment).await?;
        let proto = convert::comment_to_proto(&comment, true);
        let event = NewEvent::new(
            &comment.policy_id,
            &comment.jurisdiction_code,
            &pb::CommentSubmitted {
                comment: Some(proto.clone()),
            },
        );
        self.finish_keyed(tx, &key, &comment.id, now, vec![event])
            .await?;
        Ok(Response::new(proto))
    }

    async fn respond_to_comment(
        &self,
        request: Request<pb::RespondToCommentRequest>,
    ) -> Result<Response<pb::Comment>, Status> {
        let principal = access::principal(&request)?.clone();
        let req = request.into_inner();
        let scope = self.scope(&principal);
        let mut v = Violations::new();
        check_key(&mut v, "comment_id", &req.comment_id, true);
        check_key(&mut v, "request_id", &req.request_id, false);
        let disposition = convert::disposition_from(req.disposition);
        if disposition.is_none() {
            v.add(
                "disposition",
                "must be ADOPTED, PARTLY_ADOPTED or NOT_ADOPTED",
            );
        }
        check_text(&mut v, "reply", &req.reply, MAX_MESSAGE, true);
        v.finish()?;
        let now = self.now();
        let mut tx = self.begin().await?;
        let key = Key::new(&principal.sub, &req.request_id, "RespondToComment");
        if let Some(subject) = self.recall(&mut tx, &key).await? {
            return Ok(Response::new(replay_comment(&mut tx, &subject).await?));
        }
        let missing = || Error::NotFound(format!("comment {}", req.comment_id));
        let mut comment = store::select_comment(&mut tx, &req.comment_id)
            .await?
            .ok_or_else(missing)?;
        let policy = store::select_version(&mut tx, &comment.policy_id, comment.policy_version)
            .await?
            .ok_or_else(missing)?;
        if !self.can_read(&scope, &policy) {
            return Err(missing().into());
        }
        self.check_write(&principal, &scope, &policy)?;
        rules::check_respond(&policy)?;
        check_etag(
            &req.etag,
            &comment.etag(),
            &format!("comment {}", comment.id),
        )?;
        let expected = comment.revision;
        comment.disposition = disposition;
        comment.reply = req.reply.clone();
        comment.replied_by = principal.sub.clone();
        comment.reply_time = Some(now);
        comment.revision += 1;
        store::update_comment(&mut tx, &comment, expected).await?;
        let proto = convert::comment_to_proto(&comment, true);
        let event = NewEvent::new(
            &comment.policy_id,
            &comment.jurisdiction_code,
            &pb::CommentResponded {
                comment: Some(proto.clone()),
            },
        );
        self.finish_keyed(tx, &key, &comment.id, now, vec![event])
            .await?;
        Ok(Response::new(proto))
    }

    async fn publish_policy(
        &self,
        request: Request<pb::PublishPolicyRequest>,
    ) -> Result<Response<pb::Policy>, Status> {
        let principal = access::principal(&request)?.clone();
        let req = request.into_inner();
        let scope = self.scope(&principal);
        let mut v = Violations::new();
        check_key(&mut v, "id", &req.id, true);
        check_key(&mut v, "request_id", &req.request_id, false);
        v.finish()?;
        let now = self.now();
        let mut tx = self.begin().await?;
        let key = Key::new(&principal.sub, &req.request_id, "PublishPolicy");
        if let Some(subject) = self.recall(&mut tx, &key).await? {
            drop(tx);
            return Ok(Response::new(self.replay_policy(&subject).await?));
        }
        let mut versions = self.versions(&mut tx, &scope, "id", &req.id).await?;
        let mut policy = versions.pop().ok_or_else(|| not_found(&req.id))?;
        self.check_write(&principal, &scope, &policy)?;
        check_etag(&req.etag, &policy.etag(), &format!("policy {}", policy.id))?;
        rules::publish(&mut policy, now)?;
        let mut events = Vec::new();
        let mut superseded_version = 0;
        for earlier in versions
            .iter_mut()
            .filter(|p| p.state == PolicyState::Published)
        {
            earlier.state = PolicyState::Superseded;
            superseded_version = earlier.version;
            self.save(&mut tx, earlier, now).await?;
        }
        self.save(&mut tx, &mut policy, now).await?;
        let proto = convert::policy_to_proto(&policy);
        events.push(policy_event(
            &policy,
            &pb::PolicyPublished {
                policy: Some(proto.clone()),
                superseded_version,
            },
        ));
        events.extend(self.core.push_policy(&mut tx, &policy, now).await?);
        self.finish_keyed(tx, &key, &subject_of(&policy), now, events)
            .await?;
        Ok(Response::new(proto))
    }

    async fn amend_policy(
        &self,
        request: Request<pb::AmendPolicyRequest>,
    ) -> Result<Response<pb::Policy>, Status> {
        let principal = access::principal(&request)?.clone();
        let req = request.into_inner();
        let scope = self.scope(&principal);
        let mut v = Violations::new();
        check_key(&mut v, "id", &req.id, true);
        check_key(&mut v, "request_id", &req.request_id, false);
        check_text(&mut v, "reason", &req.reason, MAX_MESSAGE, true);
        v.finish()?;
        let now = self.now();
        let mut tx = self.begin().await?;
        let key = Key::new(&principal.sub, &req.request_id, "AmendPolicy");
        if let Some(subject) = self.recall(&mut tx, &key).await? {
            drop(tx);
            return Ok(Response::new(self.replay_policy(&subject).await?));
        }
        let published = self
            .latest_for_write(&mut tx, &scope, "id", &req.id)
            .await?;
        self.check_write(&principal, &scope, &published)?;
        if matches!(
            published.state,
            PolicyState::Draft | PolicyState::Consultation
        ) && published.version > 1
        {
            return Err(Error::FailedPrecondition(format!(
                "an amendment of policy {} (version {}) is already in progress",
                published.id, published.version
            ))
            .into());
        }
        check_etag(
            &req.etag,
            &published.etag(),
            &format!("policy {}", published.id),
        )?;
        let amendment = rules::amend(&published, req.reason.trim(), &principal.sub, now)?;
        let area = self.core.area(&amendment);
        store::write_policy(&mut tx, &amendment, &area, None).await?;
        self.finish_policy(tx, &key, &amendment, now, |policy| pb::PolicyAmended {
            policy,
        })
        .await
    }

    async fn repeal_policy(
        &self,
        request: Request<pb::RepealPolicyRequest>,
    ) -> Result<Response<pb::Policy>, Status> {
        let principal = access::principal(&request)?.clone();
        let req = request.into_inner();
        let scope = self.scope(&principal);
        let mut v = Violations::new();
        check_key(&mut v, "id", &req.id, true);
        check_key(&mut v, "request_id", &req.request_id, false);
        check_text(&mut v, "reason", &req.reason, MAX_MESSAGE, true);
        v.finish()?;
        let now = self.now();
        let mut tx = self.begin().await?;
        let key = Key::new(&principal.sub, &req.request_id, "RepealPolicy");
        if let Some(subject) = self.recall(&mut tx, &key).await? {
            drop(tx);
            return Ok(Response::new(self.replay_policy(&subject).await?));
        }
        let mut versions = self.versions(&mut tx, &scope, "id", &req.id).await?;
        let latest = versions.last().cloned().ok_or_else(|| not_found(&req.id))?;
        self.check_write(&principal, &scope, &latest)?;
        let Some(index) = versions
            .iter()
            .rposition(|p| p.state == PolicyState::Published)
        else {
            return Err(Error::FailedPrecondition(format!(
                "policy {} is {}; only a PUBLISHED policy can be repealed",
                latest.id, latest.state
            ))
            .into());
        };
        let mut policy = versions[index].clone();
        check_etag(&req.etag, &policy.etag(), &format!("policy {}", policy.id))?;
        let reason = req.reason.trim();
        rules::repeal(&mut policy, reason, now)?;
        self.save(&mut tx, &mut policy, now).await?;
        // An amendment in progress ends with the policy it amends.
        for pending in versions.iter_mut().skip(index + 1) {
            pending.state = PolicyState::Repealed;
            pending.repeal_time = Some(now);
            pending.repeal_reason = reason.to_owned();
            self.save(&mut tx, pending, now).await?;
        }
        self.finish_policy(tx, &key, &policy, now, |policy| pb::PolicyRepealed {
            policy,
        })
        .await
    }

    async fn get_policy(
        &self,
        request: Request<pb::GetPolicyRequest>,
    ) -> Result<Response<pb::Policy>, Status> {
        let principal = access::principal(&request)?.clone();
        let req = request.into_inner();
        let scope = self.scope(&principal);
        if req.version < 0 {
            return Err(Error::invalid("version", "must not be negative").into());
        }
        let mut conn = self.conn().await?;
        let versions = self.versions(&mut conn, &scope, "id", &req.id).await?;
        let found = if req.version == 0 {
            versions.iter().rev().find(|p| self.can_read(&scope, p))
        } else {
            versions
                .iter()
                .find(|p| p.version == req.version && self.can_read(&scope, p))
        };
        let policy = found
            .ok_or_else(|| Error::NotFound(format!("policy {} version {}", req.id, req.version)))?;
        Ok(Response::new(convert::policy_to_proto(policy)))
    }

    async fn list_policies(
        &self,
        request: Request<pb::ListPoliciesRequest>,
    ) -> Result<Response<pb::ListPoliciesResponse>, Status> {
        let principal = access::principal(&request)?.clone();
        let req = request.into_inner();
        let scope = self.scope(&principal);
        let mut v = Violations::new();
        let limit = v.check("page_size", ids::page_size(req.page_size));
        let jurisdiction = if req.jurisdiction_code.is_empty() {
            None
        } else {
            v.check(
                "jurisdiction_code",
                self.core.directory.parse_known(&req.jurisdiction_code),
            )
        };
        check_text(&mut v, "industry", &req.industry, convert::MAX_NAME, false);
        let tag = if req.tag == 0 {
            None
        } else {
            let tag = convert::tag_name(req.tag);
            if tag.is_none() {
                v.add("tag", "is not an enterprise tag");
            }
            tag
        };
        let kind = if req.kind == 0 {
            None
        } else {
            let kind = convert::kind_from(req.kind);
            if kind.is_none() {
                v.add("kind", "is not a policy kind");
            }
            kind
        };
        let state = if req.state == 0 {
            None
        } else {
            let state = convert::state_from(req.state);
            if state.is_none() {
                v.add("state", "is not a policy state");
            }
            state
        };
        let filters = format!(
            "{}|{}|{:?}|{:?}|{:?}",
            req.jurisdiction_code, req.industry, tag, kind, state
        );
        let after = v.check("page_token", PageToken::decode(&req.page_token, &filters));
        v.finish()?;
        let limit = limit.unwrap_or(ids::DEFAULT_PAGE_SIZE);
        let mut filter = Filter::new();
        match &scope {
            Scope::Everything => {}
            Scope::Jurisdictions(codes) => public_or_within(
                &mut filter,
                "p.state <> 'DRAFT'",
                "p.jurisdiction_code",
                codes,
            ),
            Scope::Enterprise(_) | Scope::Nothing => {
                filter.and(|_| "p.state <> 'DRAFT'".to_owned());
            }
        }
        match state {
            Some(state) => filter.eq("p.state", state.as_str().into()),
            None if principal.has_role(Role::Enterprise)
                && !principal.has_any(access::GOVERNMENT) =>
            {
                filter.eq("p.state", PolicyState::Published.as_str().into())
            }
            None => filter.and(|_| "p.state <> 'SUPERSEDED'".to_owned()),
        }
        if let Some(code) = &jurisdiction {
            let pattern = store::like_bar(code.as_str());
            filter.and(|p| format!("p.area LIKE {} ESCAPE '\\'", p(SqlValue::Text(pattern))));
        }
        if !req.industry.trim().is_empty() {
            let pattern = store::like_bar(req.industry.trim());
            filter.and(|p| {
                format!(
                    "(p.industries = '' OR p.industries LIKE {} ESCAPE '\\')",
                    p(SqlValue::Text(pattern))
                )
            });
        }
        if let Some(tag) = &tag {
            let pattern = store::like_bar(tag);
            filter.and(|p| {
                format!(
                    "(p.tags = '' OR p.tags LIKE {} ESCAPE '\\')",
                    p(SqlValue::Text(pattern))
                )
            });
        }
        if let Some(kind) = kind {
            filter.eq("p.kind", kind.as_str().into());
        }
        let mut conn = self.conn().await?;
        let rows = store::list_policies(&mut conn, filter, after.flatten(), limit).await?;
        let (rows, next_page_token) = ids::paginate(rows, limit, &filters, |r| PageToken {
            sort_key: r.policy.create_time,
            id: r.row_id.clone(),
        });
        Ok(Response::new(pb::ListPoliciesResponse {
            policies: rows
                .iter()
                .map(|r| convert::policy_to_proto(&r.policy))
                .collect(),
            next_page_token,
        }))
    }

    async fn list_comments(
        &self,
        request: Request<pb::ListCommentsRequest>,
    ) -> Result<Response<pb::ListCommentsResponse>, Status> {
        let principal = access::principal(&request)?.clone();
        let req = request.into_inner();
        let scope = self.scope(&principal);
        let mut v = Violations::new();
        let limit = v.check("page_size", ids::page_size(req.page_size));
        check_key(&mut v, "policy_id", &req.policy_id, true);
        if req.policy_version < 0 {
            v.add("policy_version", "must not be negative");
        }
        let disposition = if req.disposition == 0 {
            None
        } else {
            let d = convert::disposition_from(req.disposition);
            if d.is_none() {
                v.add("disposition", "is not a disposition");
            }
            d
        };
        check_key(&mut v, "uscc", &req.uscc, false);
        let filters = format!(
            "{}|{}|{:?}|{}|{}",
            req.policy_id, req.policy_version, disposition, req.unanswered_only, req.uscc
        );
        let after = v.check("page_token", PageToken::decode(&req.page_token, &filters));
        v.finish()?;
        let limit = limit.unwrap_or(ids::DEFAULT_PAGE_SIZE);
        let mut conn = self.conn().await?;
        let versions = self
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

    async fn ask_question(
        &self,
        request: Request<pb::AskQuestionRequest>,
    ) -> Result<Response<pb::Question>, Status> {
        let principal = access::principal(&request)?.clone();
        let uscc = own_uscc(&principal)?;
        let req = request.into_inner();
        let scope = self.scope(&principal);
        let mut v = Violations::new();
        check_key(&mut v, "request_id", &req.request_id, false);
        check_key(&mut v, "policy_id", &req.policy_id, true);
        check_text(&mut v, "text", &req.text, MAX_MESSAGE, true);
        v.finish()?;
        let now = self.now();
        let mut tx = self.begin().await?;
        let key = Key::new(&principal.sub, &req.request_id, "AskQuestion");
        if let Some(subject) = self.recall(&mut tx, &key).await? {
            return Ok(Response::new(replay_question(&mut tx, &subject).await?));
        }
        let policy = self
            .latest_for_write(&mut tx, &scope, "policy_id", &req.policy_id)
            .await?;
        let name = enterprise_name(&mut tx, &uscc, &principal).await?;
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
        store::insert_question(&mut tx, &question).await?;
        let proto = convert::question_to_proto(&question, true);
        let event = NewEvent::new(
            &question.id,
            &question.jurisdiction_code,
            &pb::QuestionAsked {
                question: Some(proto.clone()),
            },
        );
        self.finish_keyed(tx, &key, &question.id, now, vec![event])
            .await?;
        Ok(Response::new(proto))
    }

    async fn answer_question(
        &self,
        request: Request<pb::AnswerQuestionRequest>,
    ) -> Result<Response<pb::Question>, Status> {
        let principal = access::principal(&request)?.clone();
        let req = request.into_inner();
        let scope = self.scope(&principal);
        let mut v = Violations::new();
        check_key(&mut v, "question_id", &req.question_id, true);
        check_key(&mut v, "request_id", &req.request_id, false);
        check_text(&mut v, "answer", &req.answer, MAX_MESSAGE, true);
        v.finish()?;
        let now = self.now();
        let mut tx = self.begin().await?;
        let key = Key::new(&principal.sub, &req.request_id, "AnswerQuestion");
        if let Some(subject) = self.recall(&mut tx, &key).await? {
            return Ok(Response::new(replay_question(&mut tx, &subject).await?));
        }
        let missing = || Error::NotFound(format!("question {}", req.question_id));
        let mut question = store::select_question(&mut tx, &req.question_id)
            .await?
            .ok_or_else(missing)?;
        if !scope.covers_jurisdiction(&question.jurisdiction_code) {
            if question.public {
                return Err(Error::PermissionDenied(format!(
                    "question {} is for {} to answer",
                    question.id, question.jurisdiction_code
                ))
                .into());
            }
            return Err(missing().into());
        }
        check_etag(
            &req.etag,
            &question.etag(),
            &format!("question {}", question.id),
        )?;
        let expected = question.revision;
        question.answer = req.answer.clone();
        question.answered_by = principal.sub.clone();
        question.answer_time = Some(now);
        question.public = req.public;
        question.revision += 1;
        store::update_question(&mut tx, &question, expected).await?;
        let proto = convert::question_to_proto(&question, true);
        let event = NewEvent::new(
            &question.id,
            &question.jurisdiction_code,
            &pb::QuestionAnswered {
                question: Some(proto.clone()),
            },
        );
        self.finish_keyed(tx, &key, &question.id, now, vec![event])
            .await?;
        Ok(Response::new(proto))
    }

    async fn list_questions(
        &self,
        request: Request<pb::ListQuestionsRequest>,
    ) -> Result<Response<pb::ListQuestionsResponse>, Status> {
        let principal = access::principal(&request)?.clone();
        let req = request.into_inner();
        let scope = self.scope(&principal);
        let mut v = Violations::new();
        let limit = v.check("page_size", ids::page_size(req.page_size));
        check_key(&mut v, "policy_id", &req.policy_id, false);
        check_key(&mut v, "uscc", &req.uscc, false);
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
        let mut conn = self.conn().await?;
        if !req.policy_id.is_empty() {
            // A policy the caller may not read answers NOT_FOUND here too.
            self.versions(&mut conn, &scope, "policy_id", &req.policy_id)
                .await?;
        }
        let questions = store::list_questions(&mut conn, filter, after.flatten(), limit).await?;
        let (questions, next_page_token) =
            ids::paginate(questions, limit, &filters, |q| PageToken {
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

    async fn record_fulfillment(
        &self,
        request: Request<pb::RecordFulfillmentRequest>,
    ) -> Result<Response<pb::Fulfillment>, Status> {
        let principal = access::principal(&request)?.clone();
        let req = request.into_inner();
        let scope = self.scope(&principal);
        let now = self.now();
        let mut v = Violations::new();
        check_key(&mut v, "request_id", &req.request_id, false);
        check_key(&mut v, "policy_id", &req.policy_id, true);
        let uscc = v.check("uscc", Uscc::parse(&req.uscc));
        let kind = convert::fulfillment_kind_from(req.kind);
        if kind.is_none() {
            v.add("kind", "is not a fulfilment kind");
        }
        if req.amount_fen < 0 {
            v.add("amount_fen", "must not be negative");
        } else if kind == Some(FulfillmentKind::NonMonetary) && req.amount_fen != 0 {
            v.add("amount_fen", "must be 0 for support without money");
        }
        check_text(&mut v, "note", &req.note, MAX_MESSAGE, false);
        check_key(&mut v, "department_id", &req.department_id, false);
        let fulfill_time = match &req.fulfill_time {
            Some(t) => convert::micros("fulfill_time", t, &mut v),
            None => Some(now),
        };
        if let Some(t) = fulfill_time
            && t > now.saturating_add(86_400_000_000)
        {
            v.add("fulfill_time", "must not be in the future");
        }
        v.finish()?;
        let (Some(uscc), Some(kind), Some(fulfill_time)) = (uscc, kind, fulfill_time) else {
            return Err(Error::internal("validated fields missing").into());
        };
        let department_id =
            access::acting_department(&principal, &self.scope(&principal), &req.department_id)?
                .unwrap_or_default();
        let mut tx = self.begin().await?;
        let key = Key::new(&principal.sub, &req.request_id, "RecordFulfillment");
        if let Some(subject) = self.recall(&mut tx, &key).await? {
            let fulfillment = store::select_fulfillment(&mut tx, &subject)
                .await?
                .ok_or_else(|| Error::NotFound(format!("fulfilment {subject}")))?;
            return Ok(Response::new(convert::fulfillment_to_proto(&fulfillment)));
        }
        let versions = self
            .versions(&mut tx, &scope, "policy_id", &req.policy_id)
            .await?;
        let policy = in_force(
            &versions,
            &req.policy_id,
            "fulfilment is recorded under a PUBLISHED policy",
        )?;
        // The paying jurisdiction: the caller's own where the policy applies,
        // else the issuing one, which the caller must cover.
        let area = self.core.area(policy);
        let jurisdiction_code = match principal.jurisdiction.as_deref() {
            Some(own) if area.iter().any(|c| c == own) && scope.covers_jurisdiction(own) => {
                own.to_owned()
            }
            _ if scope.covers_jurisdiction(&policy.jurisdiction_code) => {
                policy.jurisdiction_code.clone()
            }
            _ => {
                return Err(Error::PermissionDenied(format!(
                    "policy {} does not apply in your jurisdiction",
                    policy.id
                ))
                .into());
            }
        };
        let name = store::select_enterprise(&mut tx, uscc.as_str())
            .await?
            .map(|e| e.name)
            .unwrap_or_default();
        let fulfillment = Fulfillment {
            id: ids::new_id(&jurisdiction_code),
            policy_id: policy.id.clone(),
            policy_version: policy.version,
            uscc: uscc.as_str().to_owned(),
            enterprise_name: name,
            jurisdiction_code,
            department_id,
            kind,
            amount_fen: req.amount_fen,
            note: req.note.clone(),
            fulfill_time,
            recorded_by: principal.sub.clone(),
            create_time: now,
        };
        store::insert_fulfillment(&mut tx, &fulfillment).await?;
        let proto = convert::fulfillment_to_proto(&fulfillment);
        let event = NewEvent::new(
            &fulfillment.id,
            &fulfillment.jurisdiction_code,
            &pb::FulfillmentRecorded {
                fulfillment: Some(proto.clone()),
            },
        );
        self.finish_keyed(tx, &key, &fulfillment.id, now, vec![event])
            .await?;
        Ok(Response::new(proto))
    }

    async fn list_fulfillments(
        &self,
        request: Request<pb::ListFulfillmentsRequest>,
    ) -> Result<Response<pb::ListFulfillmentsResponse>, Status> {
        let principal = access::principal(&request)?.clone();
        let req = request.into_inner();
        let scope = self.scope(&principal);
        let mut v = Violations::new();
        let limit = v.check("page_size", ids::page_size(req.page_size));
        check_key(&mut v, "policy_id", &req.policy_id, true);
        check_key(&mut v, "uscc", &req.uscc, false);
        let jurisdiction = if req.jurisdiction_code.is_empty() {
            None
        } else {
            v.check(
                "jurisdiction_code",
                self.core.directory.parse_known(&req.jurisdiction_code),
            )
        };
        let filters = format!("{}|{}|{}", req.policy_id, req.uscc, req.jurisdiction_code);
        let after = v.check("page_token", PageToken::decode(&req.page_token, &filters));
        v.finish()?;
        let limit = limit.unwrap_or(ids::DEFAULT_PAGE_SIZE);
        let mut conn = self.conn().await?;
        let mut filter = Filter::new();
        if req.policy_id != "-" {
            self.versions(&mut conn, &scope, "policy_id", &req.policy_id)
                .await?;
            filter.eq("policy_id", req.policy_id.clone().into());
        }
        if !req.uscc.is_empty() {
            filter.eq("uscc", req.uscc.clone().into());
        }
        if let Some(code) = &jurisdiction {
            filter.within("jurisdiction_code", Some(&self.core.below(code.as_str())));
        }
        let items = store::list_fulfillments(&mut conn, filter, after.flatten(), limit).await?;
        let (items, next_page_token) = ids::paginate(items, limit, &filters, |f| PageToken {
            sort_key: f.create_time,
            id: f.id.clone(),
        });
        Ok(Response::new(pb::ListFulfillmentsResponse {
            fulfillments: items.iter().map(convert::fulfillment_to_proto).collect(),
            next_page_token,
        }))
    }

    async fn rate_policy(
        &self,
        request: Request<pb::RatePolicyRequest>,
    ) -> Result<Response<pb::PolicyRating>, Status> {
        let principal = access::principal(&request)?.clone();
        let uscc = own_uscc(&principal)?;
        let req = request.into_inner();
        let scope = self.scope(&principal);
        let mut v = Violations::new();
        check_key(&mut v, "request_id", &req.request_id, false);
        check_key(&mut v, "policy_id", &req.policy_id, true);
        let rating = zhengqi_shared::rating::rating(req.rating);
        if rating.is_none() {
            v.add("rating", "must be one of the five levels");
        }
        check_text(&mut v, "comment", &req.comment, MAX_MESSAGE, false);
        v.finish()?;
        let rating = rating.ok_or_else(|| Error::internal("validated rating missing"))?;
        let now = self.now();
        let mut tx = self.begin().await?;
        let key = Key::new(&principal.sub, &req.request_id, "RatePolicy");
        if let Some(subject) = self.recall(&mut tx, &key).await? {
            let rating = store::select_rating_by_id(&mut tx, &subject)
                .await?
                .ok_or_else(|| Error::NotFound(format!("rating {subject}")))?;
            return Ok(Response::new(convert::rating_to_proto(&rating)));
        }
        let versions = self
            .versions(&mut tx, &scope, "policy_id", &req.policy_id)
            .await?;
        let policy = in_force(
            &versions,
            &req.policy_id,
            "only a PUBLISHED policy is reviewed",
        )?;
        let name = enterprise_name(&mut tx, &uscc, &principal).await?;
        let existing = store::select_rating(&mut tx, &policy.id, policy.version, &uscc).await?;
        let replace = existing.is_some();
        let record = match existing {
            Some(earlier) => PolicyRating {
                rating,
                comment: req.comment.clone(),
                update_time: now,
                enterprise_name: name,
                ..earlier
            },
            None => PolicyRating {
                id: ids::new_id(&policy.jurisdiction_code),
                policy_id: policy.id.clone(),
                policy_version: policy.version,
                uscc,
                enterprise_name: name,
                jurisdiction_code: policy.jurisdiction_code.clone(),
                rating,
                comment: req.comment.clone(),
                create_time: now,
                update_time: now,
            },
        };
        store::put_rating(&mut tx, &record, replace).await?;
        let proto = convert::rating_to_proto(&record);
        let event = NewEvent::new(
            &record.policy_id,
            &record.jurisdiction_code,
            &pb::PolicyRated {
                rating: Some(proto.clone()),
            },
        );
        self.finish_keyed(tx, &key, &record.id, now, vec![event])
            .await?;
        Ok(Response::new(proto))
    }

    async fn list_inbox(
        &self,
        request: Request<pb::ListInboxRequest>,
    ) -> Result<Response<pb::ListInboxResponse>, Status> {
        let principal = access::principal(&request)?.clone();
        let req = request.into_inner();
        let scope = self.scope(&principal);
        let mut v = Violations::new();
        let limit = v.check("page_size", ids::page_size(req.page_size));
        check_key(&mut v, "uscc", &req.uscc, false);
        let uscc = match &scope {
            Scope::Enterprise(own) => own.clone(),
            _ => req.uscc.clone(),
        };
        let filters = format!("{}|{}", uscc, req.unread_only);
        let after = v.check("page_token", PageToken::decode(&req.page_token, &filters));
        v.finish()?;
        let limit = limit.unwrap_or(ids::DEFAULT_PAGE_SIZE);
        let mut base = Filter::new();
        let jurisdictions = scope.list_jurisdictions(&self.core.directory, "")?;
        base.within("jurisdiction_code", jurisdictions.as_deref());
        if !uscc.is_empty() {
            base.eq("uscc", uscc.clone().into());
        }
        let mut filter = base.clone();
        if req.unread_only {
            filter.and(|_| "read_time IS NULL".to_owned());
        }
        let mut conn = self.conn().await?;
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

    async fn mark_read(
        &self,
        request: Request<pb::MarkReadRequest>,
    ) -> Result<Response<pb::MarkReadResponse>, Status> {
        let principal = access::principal(&request)?.clone();
        let uscc = own_uscc(&principal)?;
        let req = request.into_inner();
        let mut v = Violations::new();
        if req.item_ids.is_empty() {
            v.add("item_ids", "is required");
        } else if req.item_ids.len() > 100 {
            v.add("item_ids", "has more than 100 items");
        } else {
            for (i, id) in req.item_ids.iter().enumerate() {
                check_key(&mut v, &format!("item_ids[{i}]"), id, true);
            }
        }
        v.finish()?;
        let mut ids: Vec<String> = req.item_ids.clone();
        ids.sort();
        ids.dedup();
        let now = self.now();
        let mut tx = self.begin().await?;
        let items = store::select_items(&mut tx, &ids).await?;
        for id in &ids {
            match items.iter().find(|i| &i.id == id) {
                None => return Err(Error::NotFound(format!("inbox item {id}")).into()),
                Some(item) if item.uscc != uscc => {
                    return Err(Error::PermissionDenied(format!(
                        "inbox item {id} is not your enterprise's"
                    ))
                    .into());
                }
                Some(_) => {}
            }
        }
        let mut newly = Vec::new();
        for id in &ids {
            if store::mark_read(&mut tx, id, now).await? {
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
        let items = store::select_items(&mut tx, &ids).await?;
        self.finish(tx, events).await?;
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

    async fn watch_events(
        &self,
        request: Request<WatchEventsRequest>,
    ) -> Result<Response<EventStream>, Status> {
        events::serve_watch(&self.core.events, request, &self.core.directory)
    }
}
