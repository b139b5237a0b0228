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
use zhengqi_shared::fields::{self, Problem};
use zhengqi_shared::ids::{self, PageToken};
use zhengqi_shared::reference::{JurisdictionCode, Uscc};
use zhengqi_shared::storage::{Filter, SqlValue};
use zhengqi_shared::unit::{RequestKey, UnitOfWork};
use zhengqi_shared::{Error, Violations, Why};

use crate::Core;
use crate::convert::{self, text};
use crate::domain::rules;
use crate::domain::{
    Comment, Fulfillment, FulfillmentKind, Policy, PolicyRating, PolicyState, Question,
};
use crate::store;

mod comments;
mod drafts;
mod fulfillments;
mod inbox;
mod questions;

/// The longest comment, question, answer or reply.
const MAX_MESSAGE: usize = 5_000;

pub struct PolicyApi {
    core: Arc<Core>,
}

fn split_subject(subject: &str) -> (String, i32) {
    match subject.rsplit_once('#') {
        Some((id, version)) => (id.to_owned(), version.parse().unwrap_or(0)),
        None => (subject.to_owned(), 0),
    }
}

fn subject_of(policy: &Policy) -> String {
    format!("{}#{}", policy.id, policy.version)
}

/// `what` (named `what_zh` in Chinese) is as the caller read it.
fn check_etag(given: &str, current: &str, what: &str, what_zh: &str) -> Result<(), Error> {
    if !given.is_empty() && given != current {
        return Err(Error::Aborted(format!(
            "{what} changed since it was read (etag {given} is now {current}); read it again"
        ))
        .zh(format!("{what_zh}已被他人修改，请刷新后重试")));
    }
    Ok(())
}

fn not_found(id: &str) -> Error {
    Error::NotFound(format!("policy {id}")).zh("未找到该政策，或您无权查看")
}

/// The enterprise credit code of an enterprise caller.
fn own_uscc(principal: &Principal) -> Result<String, Error> {
    principal
        .uscc
        .clone()
        .filter(|u| !u.is_empty())
        .ok_or_else(|| {
            Error::PermissionDenied("your token carries no enterprise credit code".into())
                .zh("当前账号未关联企业统一社会信用代码，不能以企业身份办理")
        })
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

    /// A jurisdiction as people know it: its current name, else its code.
    fn place(&self, code: &str) -> String {
        self.core
            .directory
            .parse_known(code)
            .ok()
            .and_then(|c| self.core.directory.current_name(&c).map(str::to_owned))
            .unwrap_or_else(|| code.to_owned())
    }

    /// The unit of work of a write by `principal`, keyed by `request_id`.
    async fn work(
        &self,
        principal: &Principal,
        request_id: &str,
        method: &'static str,
        now: i64,
    ) -> Result<UnitOfWork, Error> {
        UnitOfWork::begin(
            &self.core.store,
            &self.core.events,
            store::REQUESTS,
            RequestKey::new(&principal.sub, request_id, method),
            now,
        )
        .await
    }

    /// Keeps the key with the `subject` written, appends the events and commits.
    async fn finish_keyed(
        &self,
        mut work: UnitOfWork,
        subject: &str,
        events: Vec<NewEvent>,
    ) -> Result<(), Error> {
        work.record_all(events);
        work.commit(subject).await
    }

    /// Keeps the key, appends the event `event_of` makes of the version
    /// written, commits, and answers with that version.
    async fn finish_policy<M: zhengqi_proto::events::Logged>(
        &self,
        mut work: UnitOfWork,
        policy: &Policy,
        event_of: impl FnOnce(Option<pb::Policy>) -> M,
    ) -> Result<Response<pb::Policy>, Status> {
        let proto = convert::policy_to_proto(policy);
        work.record(
            &policy.id,
            &policy.jurisdiction_code,
            &event_of(Some(proto.clone())),
        );
        work.commit(&subject_of(policy)).await?;
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
            ))
            .zh(format!(
                "{}由{}发布，不在您的管辖范围内",
                policy.named(),
                self.place(&policy.jurisdiction_code)
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
        fields::id(&mut v, field, id);
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
                    Why::new(
                        format!("is not within the issuing jurisdiction {issuing}"),
                        format!("不在发布机关所在的{}范围内", self.place(issuing)),
                    ),
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
    async fn save(
        &self,
        conn: &mut AnyConnection,
        policy: &mut Policy,
        now: i64,
    ) -> Result<(), Error> {
        let expected = policy.revision;
        policy.revision += 1;
        policy.update_time = now;
        let area = self.core.area(policy);
        store::write_policy(conn, policy, &area, Some(expected)).await
    }
}

/// The version in force; `FAILED_PRECONDITION` saying `why` (`why_zh`) when none is.
fn in_force<'a>(
    versions: &'a [Policy],
    id: &str,
    why: &str,
    why_zh: &str,
) -> Result<&'a Policy, Error> {
    versions
        .iter()
        .rev()
        .find(|p| p.state == PolicyState::Published)
        .ok_or_else(|| {
            let named = versions.last().map(Policy::named).unwrap_or_default();
            Error::FailedPrecondition(format!("policy {id} is not in force; {why}"))
                .zh(format!("{named}尚未发布或已废止，{why_zh}"))
        })
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

fn check_department(principal: &Principal, department_id: &str) -> Result<(), Error> {
    // A handler acts for their own department only; other roles act for the jurisdiction.
    if principal.has_role(Role::Handler)
        && !principal.has_any(&[Role::Coordinator, Role::Leader, Role::Admin, Role::Service])
        && !department_id.is_empty()
        && principal.department.as_deref() != Some(department_id)
    {
        return Err(Error::PermissionDenied(format!(
            "the policy is drafted by department {department_id}, not yours"
        ))
        .zh("该政策由其他部门起草，您只能办理本部门的政策"));
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

#[tonic::async_trait]
impl PolicyService for PolicyApi {
    async fn create_policy(
        &self,
        request: Request<pb::CreatePolicyRequest>,
    ) -> Result<Response<pb::Policy>, Status> {
        drafts::create_policy(self, request).await
    }

    async fn update_policy(
        &self,
        request: Request<pb::UpdatePolicyRequest>,
    ) -> Result<Response<pb::Policy>, Status> {
        drafts::update_policy(self, request).await
    }

    async fn open_consultation(
        &self,
        request: Request<pb::OpenConsultationRequest>,
    ) -> Result<Response<pb::Policy>, Status> {
        drafts::open_consultation(self, request).await
    }

    async fn submit_comment(
        &self,
        request: Request<pb::SubmitCommentRequest>,
    ) -> Result<Response<pb::Comment>, Status> {
        comments::submit_comment(self, request).await
    }

    async fn respond_to_comment(
        &self,
        request: Request<pb::RespondToCommentRequest>,
    ) -> Result<Response<pb::Comment>, Status> {
        comments::respond_to_comment(self, request).await
    }

    async fn publish_policy(
        &self,
        request: Request<pb::PublishPolicyRequest>,
    ) -> Result<Response<pb::Policy>, Status> {
        drafts::publish_policy(self, request).await
    }

    async fn amend_policy(
        &self,
        request: Request<pb::AmendPolicyRequest>,
    ) -> Result<Response<pb::Policy>, Status> {
        drafts::amend_policy(self, request).await
    }

    async fn repeal_policy(
        &self,
        request: Request<pb::RepealPolicyRequest>,
    ) -> Result<Response<pb::Policy>, Status> {
        drafts::repeal_policy(self, request).await
    }

    async fn get_policy(
        &self,
        request: Request<pb::GetPolicyRequest>,
    ) -> Result<Response<pb::Policy>, Status> {
        drafts::get_policy(self, request).await
    }

    async fn list_policies(
        &self,
        request: Request<pb::ListPoliciesRequest>,
    ) -> Result<Response<pb::ListPoliciesResponse>, Status> {
        drafts::list_policies(self, request).await
    }

    async fn list_comments(
        &self,
        request: Request<pb::ListCommentsRequest>,
    ) -> Result<Response<pb::ListCommentsResponse>, Status> {
        comments::list_comments(self, request).await
    }

    async fn ask_question(
        &self,
        request: Request<pb::AskQuestionRequest>,
    ) -> Result<Response<pb::Question>, Status> {
        questions::ask_question(self, request).await
    }

    async fn answer_question(
        &self,
        request: Request<pb::AnswerQuestionRequest>,
    ) -> Result<Response<pb::Question>, Status> {
        questions::answer_question(self, request).await
    }

    async fn list_questions(
        &self,
        request: Request<pb::ListQuestionsRequest>,
    ) -> Result<Response<pb::ListQuestionsResponse>, Status> {
        questions::list_questions(self, request).await
    }

    async fn record_fulfillment(
        &self,
        request: Request<pb::RecordFulfillmentRequest>,
    ) -> Result<Response<pb::Fulfillment>, Status> {
        fulfillments::record_fulfillment(self, request).await
    }

    async fn list_fulfillments(
        &self,
        request: Request<pb::ListFulfillmentsRequest>,
    ) -> Result<Response<pb::ListFulfillmentsResponse>, Status> {
        fulfillments::list_fulfillments(self, request).await
    }

    async fn rate_policy(
        &self,
        request: Request<pb::RatePolicyRequest>,
    ) -> Result<Response<pb::PolicyRating>, Status> {
        fulfillments::rate_policy(self, request).await
    }

    async fn list_inbox(
        &self,
        request: Request<pb::ListInboxRequest>,
    ) -> Result<Response<pb::ListInboxResponse>, Status> {
        inbox::list_inbox(self, request).await
    }

    async fn mark_read(
        &self,
        request: Request<pb::MarkReadRequest>,
    ) -> Result<Response<pb::MarkReadResponse>, Status> {
        inbox::mark_read(self, request).await
    }

    async fn watch_events(
        &self,
        request: Request<WatchEventsRequest>,
    ) -> Result<Response<EventStream>, Status> {
        events::serve_watch(&self.core.events, request, &self.core.directory)
    }
}
