//! Policy through the gateway: drafting in the open with consultation and a
//! response to every comment, publication, amendment and repeal; pushes to
//! the inboxes of the enterprises intake registered; idempotency; scope; bad
//! input named by field. Policy's clock is set to a fixed working day so the
//! consultation periods count on the loaded calendar.

use std::sync::Arc;
use std::time::Duration;

use crate::common::*;
use prost_types::Timestamp;
use tonic::Code;
use tonic::transport::Channel;
use zhengqi_proto::zhengqi::intake::v1 as intake;
use zhengqi_proto::zhengqi::policy::v1 as pb;
use zhengqi_proto::zhengqi::policy::v1::policy_service_client::PolicyServiceClient;
use zhengqi_shared::auth::Role;
use zhengqi_shared::clock::Clock;
use zhengqi_shared::storage::timestamp;

const DAY: i64 = 86_400_000_000;

/// Monday 2026-03-02 10:00 in Beijing (02:00 UTC).
fn monday() -> i64 {
    1_772_416_800 * 1_000_000
}

struct Env {
    suite: TestSuite,
    clock: Arc<Clock>,
}

impl Env {
    async fn start() -> Env {
        let clock = Arc::new(Clock::default());
        clock.set(monday());
        let for_suite = Arc::clone(&clock);
        let suite = TestSuite::start_with(move |options| options.policy.clock = for_suite).await;
        Env { suite, clock }
    }

    async fn client(&self) -> PolicyServiceClient<Channel> {
        PolicyServiceClient::new(self.suite.channel().await)
    }

    fn city(&self) -> String {
        self.suite.city_coordinator_token()
    }

    fn county(&self, code: &str) -> String {
        self.suite.official_token(Role::Coordinator, code)
    }

    fn enterprise(&self, uscc: &str, jurisdiction: &str) -> String {
        self.suite.enterprise_token(uscc, jurisdiction)
    }

    fn now(&self) -> i64 {
        self.clock.now()
    }
}

fn article(number: &str, text: &str) -> pb::Article {
    pb::Article {
        number: number.to_owned(),
        title: String::new(),
        text: text.to_owned(),
    }
}

fn draft(kind: pb::PolicyKind, title: &str, industries: &[&str]) -> pb::Policy {
    pb::Policy {
        kind: kind as i32,
        title: title.to_owned(),
        summary: "支持中小企业融资。".to_owned(),
        articles: vec![
            article("1", "适用于本市登记的中小企业。"),
            article("2", "贷款贴息按年利率的50%给予补助。"),
        ],
        applicability: Some(pb::Applicability {
            industries: industries.iter().map(|s| (*s).to_owned()).collect(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

async fn create(env: &Env, token: &str, policy: pb::Policy, request_id: &str) -> pb::Policy {
    env.client()
        .await
        .create_policy(authed(
            pb::CreatePolicyRequest {
                request_id: request_id.to_owned(),
                policy: Some(policy),
            },
            token,
        ))
        .await
        .expect("the draft is created")
        .into_inner()
}

async fn open(
    env: &Env,
    token: &str,
    policy: &pb::Policy,
    close_in_days: i64,
) -> Result<pb::Policy, tonic::Status> {
    env.client()
        .await
        .open_consultation(authed(
            pb::OpenConsultationRequest {
                id: policy.id.clone(),
                etag: policy.etag.clone(),
                close_time: Some(timestamp(env.now() + close_in_days * DAY)),
                ..Default::default()
            },
            token,
        ))
        .await
        .map(|r| r.into_inner())
}

async fn comment(
    env: &Env,
    token: &str,
    policy_id: &str,
    article: &str,
    request_id: &str,
) -> Result<pb::Comment, tonic::Status> {
    env.client()
        .await
        .submit_comment(authed(
            pb::SubmitCommentRequest {
                request_id: request_id.to_owned(),
                policy_id: policy_id.to_owned(),
                article: article.to_owned(),
                text: "建议将贴息比例提高到60%。".to_owned(),
            },
            token,
        ))
        .await
        .map(|r| r.into_inner())
}

/// Answers the comment `comment_id` with `disposition` and `reply`.
async fn respond(
    env: &Env,
    token: &str,
    comment_id: &str,
    etag: &str,
    disposition: pb::Disposition,
    reply: &str,
) -> Result<pb::Comment, tonic::Status> {
    env.client()
        .await
        .respond_to_comment(authed(
            pb::RespondToCommentRequest {
                comment_id: comment_id.to_owned(),
                etag: etag.to_owned(),
                disposition: disposition as i32,
                reply: reply.to_owned(),
                ..Default::default()
            },
            token,
        ))
        .await
        .map(|r| r.into_inner())
}

/// The comments on `policy_id` that the caller of `token` sees.
async fn comments(env: &Env, token: &str, policy_id: &str) -> Vec<pb::Comment> {
    env.client()
        .await
        .list_comments(authed(
            pb::ListCommentsRequest {
                policy_id: policy_id.to_owned(),
                ..Default::default()
            },
            token,
        ))
        .await
        .unwrap()
        .into_inner()
        .comments
}

/// The first page of policies `token` may list.
async fn listed(env: &Env, token: &str) -> Vec<pb::Policy> {
    env.client()
        .await
        .list_policies(authed(pb::ListPoliciesRequest::default(), token))
        .await
        .unwrap()
        .into_inner()
        .policies
}

async fn publish(env: &Env, token: &str, id: &str) -> Result<pb::Policy, tonic::Status> {
    env.client()
        .await
        .publish_policy(authed(
            pb::PublishPolicyRequest {
                id: id.to_owned(),
                ..Default::default()
            },
            token,
        ))
        .await
        .map(|r| r.into_inner())
}

async fn get(env: &Env, token: &str, id: &str, version: i32) -> Result<pb::Policy, tonic::Status> {
    env.client()
        .await
        .get_policy(authed(
            pb::GetPolicyRequest {
                id: id.to_owned(),
                version,
            },
            token,
        ))
        .await
        .map(|r| r.into_inner())
}

async fn register(env: &Env, uscc: &str, jurisdiction: &str, industry: &str) {
    env.suite
        .register_enterprise(
            intake::Enterprise {
                uscc: uscc.to_owned(),
                name: format!("测试企业{}", &uscc[..4]),
                jurisdiction_code: jurisdiction.to_owned(),
                industry: industry.to_owned(),
                size: intake::EnterpriseSize::Small as i32,
                ownership: intake::Ownership::Private as i32,
                tags: vec![intake::EnterpriseTag::Private as i32],
                ..Default::default()
            },
            &env.city(),
        )
        .await;
}

async fn inbox(env: &Env, uscc: &str, jurisdiction: &str) -> pb::ListInboxResponse {
    env.client()
        .await
        .list_inbox(authed(
            pb::ListInboxRequest::default(),
            &env.enterprise(uscc, jurisdiction),
        ))
        .await
        .expect("the inbox lists")
        .into_inner()
}

/// Polls the inbox until it holds `count` items (or fails after about 15 s).
async fn wait_for_inbox(
    env: &Env,
    uscc: &str,
    jurisdiction: &str,
    count: usize,
) -> pb::ListInboxResponse {
    poll_until(
        300,
        &format!("{uscc} never received {count} item(s)"),
        async || inbox(env, uscc, jurisdiction).await,
        |page| page.items.len() >= count,
    )
    .await
}

#[tokio::test]
async fn a_draft_is_published_only_after_consultation_with_every_comment_answered() {
    let env = Env::start().await;
    let city = env.city();
    let policy = create(
        &env,
        &city,
        draft(pb::PolicyKind::Policy, "中小企业贷款贴息办法", &[]),
        "",
    )
    .await;
    assert_eq!(policy.state, pb::PolicyState::Draft as i32);
    assert_eq!(policy.version, 1);
    assert_eq!(policy.jurisdiction_code, "510800");

    // A draft is not taken for publication without consultation.
    let refused = publish(&env, &city, &policy.id).await.unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);

    let open = open(&env, &city, &policy, 14)
        .await
        .expect("consultation opens");
    assert_eq!(open.state, pb::PolicyState::Consultation as i32);

    let a = env.enterprise(USCC_A, "510821");
    let c = comment(&env, &a, &policy.id, "2", "")
        .await
        .expect("a comment is taken");
    assert_eq!(c.enterprise.as_ref().unwrap().uscc, USCC_A);
    assert_eq!(c.disposition, pb::Disposition::Unspecified as i32);
    let bad_article = comment(&env, &a, &policy.id, "99", "").await.unwrap_err();
    assert_eq!(bad_article.code(), Code::InvalidArgument);
    assert_eq!(bad_fields(&bad_article), ["article"]);

    // Not while consultation is open, nor after it with a comment unanswered.
    let early = publish(&env, &city, &policy.id).await.unwrap_err();
    assert_eq!(early.code(), Code::FailedPrecondition);
    env.clock.advance(Duration::from_secs(15 * 86_400));
    let late = comment(&env, &a, &policy.id, "", "").await.unwrap_err();
    assert_eq!(late.code(), Code::FailedPrecondition, "{late:?}");
    let unanswered = publish(&env, &city, &policy.id).await.unwrap_err();
    assert_eq!(unanswered.code(), Code::FailedPrecondition);
    assert!(
        unanswered.message().contains("no response"),
        "{unanswered:?}"
    );
    let current = get(&env, &city, &policy.id, 0).await.unwrap();
    assert_eq!(
        (current.comment_count, current.unanswered_comment_count),
        (1, 1)
    );

    let reply = respond(
        &env,
        &city,
        &c.id,
        &c.etag,
        pb::Disposition::PartlyAdopted,
        "贴息比例调整为55%。",
    )
    .await
    .expect("the comment is answered");
    assert_eq!(reply.disposition, pb::Disposition::PartlyAdopted as i32);
    // A stale etag is refused.
    let stale = respond(
        &env,
        &city,
        &c.id,
        &c.etag,
        pb::Disposition::Adopted,
        "采纳。",
    )
    .await
    .unwrap_err();
    assert_eq!(stale.code(), Code::Aborted);

    let published = publish(&env, &city, &policy.id).await.expect("published");
    assert_eq!(published.state, pb::PolicyState::Published as i32);
    assert_eq!(
        (published.comment_count, published.unanswered_comment_count),
        (1, 0)
    );

    // Published: every authenticated caller reads it, and its replies.
    let b = env.enterprise(USCC_B, "510822");
    assert_eq!(
        get(&env, &b, &policy.id, 0).await.unwrap().state,
        pb::PolicyState::Published as i32
    );
    let comments = comments(&env, &b, &policy.id).await;
    assert_eq!(comments.len(), 1);
    assert_eq!(comments[0].reply, "贴息比例调整为55%。");
    assert!(
        comments[0].enterprise.is_none(),
        "another enterprise does not see who commented"
    );
    env.suite.stop().await;
}

#[tokio::test]
async fn consultation_shorter_than_the_legal_minimum_is_refused_naming_close_time() {
    let env = Env::start().await;
    let city = env.city();
    let policy = create(
        &env,
        &city,
        draft(pb::PolicyKind::Policy, "促进民营经济发展若干措施", &[]),
        "",
    )
    .await;
    // Monday 2026-03-02 + 7 working days is Wednesday 2026-03-11.
    let short = open(&env, &city, &policy, 5).await.unwrap_err();
    assert_eq!(short.code(), Code::InvalidArgument);
    assert_eq!(bad_fields(&short), ["close_time"]);
    let unchanged = get(&env, &city, &policy.id, 0).await.unwrap();
    assert_eq!(unchanged.state, pb::PolicyState::Draft as i32);
    open(&env, &city, &policy, 9)
        .await
        .expect("7 working days are enough");

    // A draft that closely concerns enterprises needs 30 days.
    let mut close = draft(pb::PolicyKind::Policy, "涉企收费清单", &[]);
    close.closely_concerns_enterprises = true;
    let close = create(&env, &city, close, "").await;
    let short = open(&env, &city, &close, 20).await.unwrap_err();
    assert_eq!(bad_fields(&short), ["close_time"]);
    open(&env, &city, &close, 30)
        .await
        .expect("30 days are enough");
    env.suite.stop().await;
}

#[tokio::test]
async fn amending_makes_version_two_which_supersedes_version_one_and_repeal_ends_it() {
    let env = Env::start().await;
    let city = env.city();
    let list = create(
        &env,
        &city,
        draft(pb::PolicyKind::ConductList, "政商交往正面清单", &[]),
        "",
    )
    .await;
    let v1 = publish(&env, &city, &list.id)
        .await
        .expect("a conduct list publishes from DRAFT");
    let amended = env
        .client()
        .await
        .amend_policy(authed(
            pb::AmendPolicyRequest {
                id: list.id.clone(),
                etag: v1.etag.clone(),
                reason: "增加第三条".to_owned(),
                ..Default::default()
            },
            &city,
        ))
        .await
        .expect("amendment starts")
        .into_inner();
    assert_eq!(
        (amended.id.as_str(), amended.version),
        (list.id.as_str(), 2)
    );
    assert_eq!(amended.state, pb::PolicyState::Draft as i32);
    assert_eq!(amended.amendment_reason, "增加第三条");
    // Version 1 stays in force for enterprises while version 2 is drafted.
    let a = env.enterprise(USCC_A, "510821");
    let seen = get(&env, &a, &list.id, 0).await.unwrap();
    assert_eq!(
        (seen.version, seen.state),
        (1, pb::PolicyState::Published as i32)
    );
    assert_eq!(
        get(&env, &a, &list.id, 2).await.unwrap_err().code(),
        Code::NotFound
    );

    let updated = env
        .client()
        .await
        .update_policy(authed(
            pb::UpdatePolicyRequest {
                policy: Some(pb::Policy {
                    id: list.id.clone(),
                    title: "政商交往正面清单（修订）".to_owned(),
                    ..Default::default()
                }),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["title".to_owned()],
                }),
                etag: amended.etag.clone(),
                ..Default::default()
            },
            &city,
        ))
        .await
        .expect("the amendment draft changes")
        .into_inner();
    assert_eq!(updated.title, "政商交往正面清单（修订）");
    assert_eq!(updated.articles.len(), 2, "fields outside the mask stay");

    let v2 = publish(&env, &city, &list.id).await.unwrap();
    assert_eq!(
        (v2.version, v2.state),
        (2, pb::PolicyState::Published as i32)
    );
    let old = get(&env, &city, &list.id, 1).await.unwrap();
    assert_eq!(old.state, pb::PolicyState::Superseded as i32);

    let repealed = env
        .client()
        .await
        .repeal_policy(authed(
            pb::RepealPolicyRequest {
                id: list.id.clone(),
                etag: v2.etag.clone(),
                reason: "已被新规定替代".to_owned(),
                ..Default::default()
            },
            &city,
        ))
        .await
        .expect("repealed")
        .into_inner();
    assert_eq!(repealed.state, pb::PolicyState::Repealed as i32);
    assert!(repealed.repeal_time.is_some());
    let again = publish(&env, &city, &list.id).await.unwrap_err();
    assert_eq!(again.code(), Code::FailedPrecondition);
    env.suite.stop().await;
}

/// The types of policy's events, read from its log until `done` holds (or
/// fails after 15 s).
async fn events_until(env: &Env, done: impl Fn(&[String]) -> bool) -> Vec<String> {
    use zhengqi_proto::zhengqi::common::v1::WatchEventsRequest;
    let mut stream = env
        .client()
        .await
        .watch_events(authed(
            WatchEventsRequest::default(),
            &env.suite.service_token(),
        ))
        .await
        .expect("the log is served")
        .into_inner();
    let mut types = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while !done(&types) {
        let event = tokio::time::timeout_at(deadline, stream.message())
            .await
            .unwrap_or_else(|_| panic!("the expected events never came: {types:?}"))
            .expect("the stream stays up")
            .expect("the stream does not end");
        types.push(event.r#type);
    }
    types
}

#[tokio::test]
async fn a_published_policy_reaches_the_inboxes_of_matching_enterprises_only() {
    let env = Env::start().await;
    let city = env.city();
    register(&env, USCC_A, "510821", "制造业").await;
    register(&env, USCC_B, "510822", "餐饮业").await;
    let policy = create(
        &env,
        &city,
        draft(
            pb::PolicyKind::ConductList,
            "制造业企业服务清单",
            &["制造业"],
        ),
        "",
    )
    .await;
    publish(&env, &city, &policy.id).await.unwrap();

    // A matches (industry, and 510821 lies within the city); B does not.
    let a = wait_for_inbox(&env, USCC_A, "510821", 1).await;
    assert_eq!(a.items[0].policy_id, policy.id);
    assert_eq!(a.items[0].policy_version, 1);
    assert_eq!(a.unread_count, 1);
    // An enterprise registered later gets the policies in force on registration;
    // once it has, B's earlier registration has been applied too.
    register(&env, USCC_C, "510823", "制造业").await;
    let c = wait_for_inbox(&env, USCC_C, "510823", 1).await;
    assert_eq!(c.items[0].policy_id, policy.id);
    assert!(inbox(&env, USCC_B, "510822").await.items.is_empty());

    // Re-registration pushes nothing twice.
    register(&env, USCC_A, "510821", "制造业").await;
    register(&env, USCC_C, "510823", "制造业").await;
    wait_for_inbox(&env, USCC_C, "510823", 1).await;
    assert_eq!(inbox(&env, USCC_A, "510821").await.items.len(), 1);

    // MarkRead: the enterprise's own items only.
    let a_token = env.enterprise(USCC_A, "510821");
    let others = env
        .client()
        .await
        .mark_read(authed(
            pb::MarkReadRequest {
                item_ids: vec![c.items[0].id.clone()],
            },
            &a_token,
        ))
        .await
        .unwrap_err();
    assert_eq!(others.code(), Code::PermissionDenied);
    let read = env
        .client()
        .await
        .mark_read(authed(
            pb::MarkReadRequest {
                item_ids: vec![a.items[0].id.clone()],
            },
            &a_token,
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(read.items[0].read_time.is_some());
    let after = inbox(&env, USCC_A, "510821").await;
    assert_eq!(after.unread_count, 0);
    // Asking for another enterprise's inbox shows one's own.
    let mine = env
        .client()
        .await
        .list_inbox(authed(
            pb::ListInboxRequest {
                uscc: USCC_C.to_owned(),
                ..Default::default()
            },
            &a_token,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(mine.items.len(), 1, "{mine:?}");
    assert_eq!(mine.items[0].uscc, USCC_A);

    // Each change is an event of policy's log: one push per enterprise.
    let count = |types: &[String], name: &str| types.iter().filter(|t| t.as_str() == name).count();
    let types = events_until(&env, |types| {
        count(types, "zhengqi.policy.v1.InboxItemsRead") == 1
    })
    .await;
    assert_eq!(count(&types, "zhengqi.policy.v1.PolicyCreated"), 1);
    assert_eq!(count(&types, "zhengqi.policy.v1.PolicyPublished"), 1);
    assert_eq!(
        count(&types, "zhengqi.policy.v1.PolicyPushed"),
        2,
        "{types:?}"
    );
    env.suite.stop().await;
}

#[tokio::test]
async fn retrying_with_the_same_request_id_creates_nothing_new() {
    let env = Env::start().await;
    let city = env.city();
    let first = create(
        &env,
        &city,
        draft(pb::PolicyKind::Policy, "重点项目要素保障措施", &[]),
        "create-1",
    )
    .await;
    let second = create(
        &env,
        &city,
        draft(pb::PolicyKind::Policy, "重点项目要素保障措施", &[]),
        "create-1",
    )
    .await;
    assert_eq!(first.id, second.id);
    let policies = listed(&env, &city).await;
    assert_eq!(policies.len(), 1);
    assert_eq!(policies[0].id, first.id);

    open(&env, &city, &first, 10).await.unwrap();
    let a = env.enterprise(USCC_A, "510821");
    let c1 = comment(&env, &a, &first.id, "1", "comment-1")
        .await
        .unwrap();
    let c2 = comment(&env, &a, &first.id, "1", "comment-1")
        .await
        .unwrap();
    assert_eq!(c1.id, c2.id);
    assert_eq!(
        get(&env, &city, &first.id, 0).await.unwrap().comment_count,
        1
    );
    env.suite.stop().await;
}

#[tokio::test]
async fn lists_page_through_every_item_once_in_order() {
    let env = Env::start().await;
    let city = env.city();
    let mut created = Vec::new();
    // One second apart, so "newest first" names one order.
    for (i, title) in ["第一项措施", "第二项措施", "第三项措施"]
        .iter()
        .enumerate()
    {
        env.clock.set(monday() + i as i64 * 1_000_000);
        created.push(create(&env, &city, draft(pb::PolicyKind::Policy, title, &[]), "").await);
    }
    let mut listed = Vec::new();
    let mut page_token = String::new();
    let mut pages = 0;
    loop {
        let page = env
            .client()
            .await
            .list_policies(authed(
                pb::ListPoliciesRequest {
                    page_size: 2,
                    page_token: page_token.clone(),
                    ..Default::default()
                },
                &city,
            ))
            .await
            .unwrap()
            .into_inner();
        assert!(page.policies.len() <= 2);
        listed.extend(page.policies.into_iter().map(|p| p.id));
        pages += 1;
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
        assert!(pages < 5, "the pages never end");
    }
    assert_eq!(pages, 2);
    let newest_first: Vec<String> = created.iter().rev().map(|p| p.id.clone()).collect();
    assert_eq!(listed, newest_first);

    let policy = &created[0];
    open(&env, &city, policy, 10).await.unwrap();
    let a = env.enterprise(USCC_A, "510821");
    let mut made = Vec::new();
    for i in 0..3 {
        env.clock.set(monday() + (10 + i) * 1_000_000);
        let c = comment(&env, &a, &policy.id, "1", &format!("paged-{i}"))
            .await
            .unwrap();
        made.push(c.id);
    }
    let page = |page_token: String| pb::ListCommentsRequest {
        policy_id: policy.id.clone(),
        page_size: 2,
        page_token,
        ..Default::default()
    };
    let first = env
        .client()
        .await
        .list_comments(authed(page(String::new()), &city))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.comments.len(), 2);
    assert!(!first.next_page_token.is_empty());
    let second = env
        .client()
        .await
        .list_comments(authed(page(first.next_page_token), &city))
        .await
        .unwrap()
        .into_inner();
    assert!(second.next_page_token.is_empty());
    let oldest_first: Vec<String> = first
        .comments
        .iter()
        .chain(&second.comments)
        .map(|c| c.id.clone())
        .collect();
    assert_eq!(oldest_first, made);
    env.suite.stop().await;
}

#[tokio::test]
async fn callers_out_of_scope_can_neither_see_nor_change() {
    let env = Env::start().await;
    let qingchuan = env.county("510822");
    let wangcang = env.county("510821");
    let policy = create(
        &env,
        &qingchuan,
        draft(pb::PolicyKind::Policy, "青川县招商引资优惠办法", &[]),
        "",
    )
    .await;
    assert_eq!(policy.jurisdiction_code, "510822");

    // Another county and enterprises do not see the draft; the city does.
    assert_eq!(
        get(&env, &wangcang, &policy.id, 0)
            .await
            .unwrap_err()
            .code(),
        Code::NotFound
    );
    let a = env.enterprise(USCC_A, "510821");
    assert_eq!(
        get(&env, &a, &policy.id, 0).await.unwrap_err().code(),
        Code::NotFound
    );
    get(&env, &env.city(), &policy.id, 0)
        .await
        .expect("the city sees its counties' drafts");
    assert!(listed(&env, &wangcang).await.is_empty());
    let in_city = listed(&env, &env.city()).await;
    assert_eq!(in_city.len(), 1, "the city lists its counties' drafts");
    assert_eq!(in_city[0].id, policy.id);

    // A county cannot draft for another one.
    let mut foreign = draft(pb::PolicyKind::Policy, "越权草案", &[]);
    foreign.jurisdiction_code = "510822".to_owned();
    let denied = env
        .client()
        .await
        .create_policy(authed(
            pb::CreatePolicyRequest {
                policy: Some(foreign),
                ..Default::default()
            },
            &wangcang,
        ))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);

    // In consultation the draft is public, but only its county acts on it.
    open(&env, &qingchuan, &policy, 10).await.unwrap();
    get(&env, &a, &policy.id, 0)
        .await
        .expect("enterprises read a consultation");
    let denied = env
        .client()
        .await
        .update_policy(authed(
            pb::UpdatePolicyRequest {
                policy: Some(pb::Policy {
                    id: policy.id.clone(),
                    title: "改".to_owned(),
                    ..Default::default()
                }),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["title".to_owned()],
                }),
                ..Default::default()
            },
            &wangcang,
        ))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);

    // An enterprise sees its own comment, not another's, during consultation.
    let c = comment(&env, &a, &policy.id, "", "").await.unwrap();
    let b = env.enterprise(USCC_B, "510822");
    comment(&env, &b, &policy.id, "", "").await.unwrap();
    let seen = comments(&env, &a, &policy.id).await;
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].id, c.id);
    let responded = respond(&env, &wangcang, &c.id, "", pb::Disposition::Adopted, "采纳")
        .await
        .unwrap_err();
    assert_eq!(responded.code(), Code::PermissionDenied);

    // Enterprises do not draft; officials do not comment.
    let refused = env
        .client()
        .await
        .create_policy(authed(
            pb::CreatePolicyRequest {
                policy: Some(draft(pb::PolicyKind::Policy, "企业起草", &[])),
                ..Default::default()
            },
            &a,
        ))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
    let refused = comment(&env, &qingchuan, &policy.id, "", "")
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
    env.suite.stop().await;
}

#[tokio::test]
async fn questions_fulfilments_and_reviews_of_a_published_policy() {
    let env = Env::start().await;
    let city = env.city();
    let list = create(
        &env,
        &city,
        draft(pb::PolicyKind::ConductList, "惠企政策兑现清单", &[]),
        "",
    )
    .await;
    publish(&env, &city, &list.id).await.unwrap();
    let a = env.enterprise(USCC_A, "510821");

    let question = env
        .client()
        .await
        .ask_question(authed(
            pb::AskQuestionRequest {
                policy_id: list.id.clone(),
                text: "个体工商户是否适用？".to_owned(),
                ..Default::default()
            },
            &a,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(question.jurisdiction_code, "510800");
    let answered = env
        .client()
        .await
        .answer_question(authed(
            pb::AnswerQuestionRequest {
                question_id: question.id.clone(),
                etag: question.etag.clone(),
                answer: "适用。".to_owned(),
                public: true,
                ..Default::default()
            },
            &city,
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(answered.public);
    let b = env.enterprise(USCC_B, "510822");
    let faq = env
        .client()
        .await
        .list_questions(authed(
            pb::ListQuestionsRequest {
                public_only: true,
                ..Default::default()
            },
            &b,
        ))
        .await
        .unwrap()
        .into_inner()
        .questions;
    assert_eq!(faq.len(), 1);
    assert_eq!(faq[0].id, question.id);
    assert_eq!(faq[0].answer, "适用。");
    assert!(
        faq[0].enterprise.is_none(),
        "a FAQ does not name the enterprise"
    );

    let fulfillment = env
        .client()
        .await
        .record_fulfillment(authed(
            pb::RecordFulfillmentRequest {
                policy_id: list.id.clone(),
                uscc: USCC_A.to_owned(),
                kind: pb::FulfillmentKind::Subsidy as i32,
                amount_fen: 5_000_000,
                ..Default::default()
            },
            &env.county("510821"),
        ))
        .await
        .expect("a county records a fulfilment of a city policy")
        .into_inner();
    assert_eq!(fulfillment.jurisdiction_code, "510821");
    let listed = env
        .client()
        .await
        .list_fulfillments(authed(
            pb::ListFulfillmentsRequest {
                policy_id: "-".to_owned(),
                ..Default::default()
            },
            &b,
        ))
        .await
        .unwrap()
        .into_inner()
        .fulfillments;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, fulfillment.id);
    assert_eq!(listed[0].amount_fen, 5_000_000);

    let rate = |rating: i32| pb::RatePolicyRequest {
        policy_id: list.id.clone(),
        rating,
        ..Default::default()
    };
    let first = env
        .client()
        .await
        .rate_policy(authed(rate(4), &a))
        .await
        .unwrap()
        .into_inner();
    let second = env
        .client()
        .await
        .rate_policy(authed(rate(2), &a))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.id, second.id, "a second review replaces the first");
    assert_eq!(second.rating, 2);
    env.suite.stop().await;
}

#[tokio::test]
async fn bad_input_is_refused_naming_every_field() {
    let env = Env::start().await;
    let city = env.city();
    let bad = env
        .client()
        .await
        .create_policy(authed(
            pb::CreatePolicyRequest {
                policy: Some(pb::Policy {
                    kind: 0,
                    title: " ".to_owned(),
                    articles: vec![article("1", "")],
                    applicability: Some(pb::Applicability {
                        jurisdiction_codes: vec!["999999".to_owned()],
                        tags: vec![99],
                        ..Default::default()
                    }),
                    expire_time: Some(Timestamp {
                        seconds: i64::MAX,
                        nanos: 0,
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            },
            &city,
        ))
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);
    let fields = bad_fields(&bad);
    for field in [
        "policy.kind",
        "policy.title",
        "policy.articles[0].text",
        "policy.applicability.tags[0]",
        "policy.expire_time",
    ] {
        assert!(fields.iter().any(|f| f == field), "{field} in {fields:?}");
    }

    let list = create(
        &env,
        &city,
        draft(pb::PolicyKind::ConductList, "清单", &[]),
        "",
    )
    .await;
    publish(&env, &city, &list.id).await.unwrap();
    let bad = env
        .client()
        .await
        .record_fulfillment(authed(
            pb::RecordFulfillmentRequest {
                policy_id: list.id.clone(),
                uscc: "91350200776049653B".to_owned(),
                kind: pb::FulfillmentKind::Subsidy as i32,
                amount_fen: -1,
                ..Default::default()
            },
            &city,
        ))
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);
    assert_eq!(bad_fields(&bad), ["uscc", "amount_fen"]);

    let bad = env
        .client()
        .await
        .list_policies(authed(
            pb::ListPoliciesRequest {
                page_size: -1,
                page_token: "nonsense".to_owned(),
                jurisdiction_code: "123".to_owned(),
                ..Default::default()
            },
            &city,
        ))
        .await
        .unwrap_err();
    assert_eq!(
        bad_fields(&bad),
        ["page_size", "jurisdiction_code", "page_token"]
    );
    let unknown = get(&env, &city, "510800-NOPE", 0).await.unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);
    env.suite.stop().await;
}

#[tokio::test]
async fn a_handler_drafts_only_for_their_own_department() {
    let env = Env::start().await;
    let handler = |department: &str| env.suite.handler_token(department);
    let finance = handler("510821-CZJ");
    let policy = create(
        &env,
        &finance,
        draft(pb::PolicyKind::Policy, "旺苍县财政奖补办法", &[]),
        "",
    )
    .await;
    assert_eq!(policy.department_id, "510821-CZJ");
    let other = env
        .client()
        .await
        .open_consultation(authed(
            pb::OpenConsultationRequest {
                id: policy.id.clone(),
                close_time: Some(timestamp(env.now() + 10 * DAY)),
                ..Default::default()
            },
            &handler("510821-SWJ"),
        ))
        .await
        .unwrap_err();
    assert_eq!(other.code(), Code::PermissionDenied);
    open(&env, &finance, &policy, 10)
        .await
        .expect("the drafting department opens consultation");
    // Publication is for the coordinator, not the department.
    let refused = publish(&env, &finance, &policy.id).await.unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
    env.suite.stop().await;
}
