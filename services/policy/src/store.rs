//! Policy's tables through sqlx, in portable SQL with `$n` parameters. Every
//! write happens inside a transaction the API opens, together with its events
//! and the idempotency key of the request.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AssertSqlSafe, Row};
use zhengqi_shared::Error;
use zhengqi_shared::ids::PageToken;
use zhengqi_shared::storage::is_unique_violation;
use zhengqi_shared::storage::{Backend, Filter, Keyset, RequestKeys, SqlValue, corrupt};

use crate::domain::{
    Applicability, Article, Comment, Disposition, Draft, Enterprise, Fulfillment, FulfillmentKind,
    InboxItem, Policy, PolicyKind, PolicyRating, PolicyState, Question, Rating,
};

/// `|a|b|` for a list matched with `LIKE '%|a|%'`; empty for no values.
pub fn bars(values: &[String]) -> String {
    if values.is_empty() {
        String::new()
    } else {
        format!("|{}|", values.join("|"))
    }
}

/// `%|value|%` with the `LIKE` wildcards of `value` escaped (`ESCAPE '\'`).
pub fn like_bar(value: &str) -> String {
    let mut escaped = String::with_capacity(value.len() + 4);
    escaped.push_str("%|");
    for c in value.chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped.push_str("|%");
    escaped
}

/// Policy's idempotency keys.
pub const REQUESTS: RequestKeys = RequestKeys::new("policy_requests");

// ---- policies ----

const POLICY_COLUMNS: &str = "p.row_id, p.id, p.version, p.jurisdiction_code, p.kind, p.state, p.title, \
     p.document_number, p.department_id, p.summary, p.articles, p.applicability, p.closely_concerns, \
     p.consultation_open_time, p.consultation_close_time, p.publish_time, p.effective_time, \
     p.expire_time, p.repeal_time, p.repeal_reason, p.amendment_reason, p.revision, p.create_time, \
     p.update_time, p.created_by, \
     (SELECT COUNT(*) FROM policy_comments c WHERE c.policy_id = p.id AND c.policy_version = p.version) AS comment_count, \
     (SELECT COUNT(*) FROM policy_comments c WHERE c.policy_id = p.id AND c.policy_version = p.version \
        AND c.disposition IS NULL) AS unanswered_count";

/// A stored version with the key of its row (for paging).
pub struct PolicyRow {
    pub row_id: String,
    pub policy: Policy,
}

fn policy_from_row(row: &AnyRow) -> Result<PolicyRow, Error> {
    let kind: String = row.try_get("kind")?;
    let state: String = row.try_get("state")?;
    let articles: String = row.try_get("articles")?;
    let applicability: String = row.try_get("applicability")?;
    let articles: Vec<Article> =
        serde_json::from_str(&articles).map_err(|_| corrupt("articles", &articles))?;
    let applicability: Applicability = serde_json::from_str(&applicability)
        .map_err(|_| corrupt("applicability", &applicability))?;
    let version: i64 = row.try_get("version")?;
    Ok(PolicyRow {
        row_id: row.try_get("row_id")?,
        policy: Policy {
            id: row.try_get("id")?,
            version: i32::try_from(version)
                .map_err(|_| corrupt("version", &version.to_string()))?,
            jurisdiction_code: row.try_get("jurisdiction_code")?,
            state: PolicyState::parse(&state).ok_or_else(|| corrupt("state", &state))?,
            draft: Draft {
                kind: PolicyKind::parse(&kind).ok_or_else(|| corrupt("kind", &kind))?,
                title: row.try_get("title")?,
                document_number: row.try_get("document_number")?,
                department_id: row.try_get("department_id")?,
                summary: row.try_get("summary")?,
                articles,
                applicability,
                effective_time: row.try_get("effective_time")?,
                expire_time: row.try_get("expire_time")?,
                closely_concerns_enterprises: row.try_get::<i64, _>("closely_concerns")? != 0,
            },
            consultation_open_time: row.try_get("consultation_open_time")?,
            consultation_close_time: row.try_get("consultation_close_time")?,
            publish_time: row.try_get("publish_time")?,
            repeal_time: row.try_get("repeal_time")?,
            repeal_reason: row.try_get("repeal_reason")?,
            amendment_reason: row.try_get("amendment_reason")?,
            comment_count: row.try_get("comment_count")?,
            unanswered_comment_count: row.try_get("unanswered_count")?,
            revision: row.try_get("revision")?,
            create_time: row.try_get("create_time")?,
            update_time: row.try_get("update_time")?,
            created_by: row.try_get("created_by")?,
        },
    })
}

/// Every version of a policy, oldest first.
pub async fn select_versions(conn: &mut AnyConnection, id: &str) -> Result<Vec<Policy>, Error> {
    let rows = sqlx::query(AssertSqlSafe(format!(
        "SELECT {POLICY_COLUMNS} FROM policy_versions p WHERE p.id = $1 ORDER BY p.version"
    )))
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|row| policy_from_row(row).map(|r| r.policy))
        .collect()
}

pub async fn select_version(
    conn: &mut AnyConnection,
    id: &str,
    version: i32,
) -> Result<Option<Policy>, Error> {
    let row = sqlx::query(AssertSqlSafe(format!(
        "SELECT {POLICY_COLUMNS} FROM policy_versions p WHERE p.id = $1 AND p.version = $2"
    )))
    .bind(id)
    .bind(i64::from(version))
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref()
        .map(|row| policy_from_row(row).map(|r| r.policy))
        .transpose()
}

/// Every PUBLISHED version whose area includes `jurisdiction_code`.
pub async fn select_published_in(
    conn: &mut AnyConnection,
    jurisdiction_code: &str,
) -> Result<Vec<(Policy, Vec<String>)>, Error> {
    let rows = sqlx::query(AssertSqlSafe(format!(
        "SELECT {POLICY_COLUMNS}, p.area FROM policy_versions p \
         WHERE p.state = 'PUBLISHED' AND p.area LIKE $1 ORDER BY p.create_time"
    )))
    .bind(like_bar(jurisdiction_code))
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|row| {
            let area: String = row.try_get("area")?;
            let area = area
                .split('|')
                .filter(|c| !c.is_empty())
                .map(str::to_owned)
                .collect();
            Ok((policy_from_row(row)?.policy, area))
        })
        .collect()
}

/// Writes a version: inserted when `expected_revision` is `None`, else
/// updated only if its stored revision is still `expected_revision` (a
/// concurrent change is `ABORTED`).
pub async fn write_policy(
    conn: &mut AnyConnection,
    policy: &Policy,
    area: &[String],
    expected_revision: Option<i64>,
) -> Result<(), Error> {
    let d = &policy.draft;
    let articles = serde_json::to_string(&d.articles).map_err(Error::internal)?;
    let applicability = serde_json::to_string(&d.applicability).map_err(Error::internal)?;
    let values: Vec<Bind> = vec![
        policy.id.clone().into(),
        i64::from(policy.version).into(),
        policy.jurisdiction_code.clone().into(),
        d.kind.as_str().into(),
        policy.state.as_str().into(),
        d.title.clone().into(),
        d.document_number.clone().into(),
        d.department_id.clone().into(),
        d.summary.clone().into(),
        articles.into(),
        applicability.into(),
        bars(area).into(),
        bars(&d.applicability.industries).into(),
        bars(&d.applicability.tags).into(),
        i64::from(d.closely_concerns_enterprises).into(),
        opt(policy.consultation_open_time),
        opt(policy.consultation_close_time),
        opt(policy.publish_time),
        opt(d.effective_time),
        opt(d.expire_time),
        opt(policy.repeal_time),
        policy.repeal_reason.clone().into(),
        policy.amendment_reason.clone().into(),
        policy.revision.into(),
        policy.create_time.into(),
        policy.update_time.into(),
        policy.created_by.clone().into(),
    ];
    const COLUMNS: [&str; 27] = [
        "id",
        "version",
        "jurisdiction_code",
        "kind",
        "state",
        "title",
        "document_number",
        "department_id",
        "summary",
        "articles",
        "applicability",
        "area",
        "industries",
        "tags",
        "closely_concerns",
        "consultation_open_time",
        "consultation_close_time",
        "publish_time",
        "effective_time",
        "expire_time",
        "repeal_time",
        "repeal_reason",
        "amendment_reason",
        "revision",
        "create_time",
        "update_time",
        "created_by",
    ];
    let (sql, params) = match expected_revision {
        None => {
            let mut params = values;
            params.push(zhengqi_shared::ids::new_id(&policy.jurisdiction_code).into());
            (
                format!(
                    "INSERT INTO policy_versions ({}, row_id) VALUES ({})",
                    COLUMNS.join(", "),
                    zhengqi_shared::storage::placeholders(1, COLUMNS.len() + 1)
                ),
                params,
            )
        }
        Some(expected) => {
            let sets: Vec<String> = COLUMNS
                .iter()
                .enumerate()
                .skip(2)
                .map(|(i, c)| format!("{c} = ${}", i + 1))
                .collect();
            let mut params = values;
            params.push(expected.into());
            (
                format!(
                    "UPDATE policy_versions SET {} WHERE id = $1 AND version = $2 AND revision = ${}",
                    sets.join(", "),
                    COLUMNS.len() + 1
                ),
                params,
            )
        }
    };
    let mut query = sqlx::query(AssertSqlSafe(sql));
    for value in params {
        query = match value {
            Bind::Text(text) => query.bind(text),
            Bind::Int(number) => query.bind(number),
            Bind::Time(time) => query.bind(time),
        };
    }
    let affected = query.execute(&mut *conn).await?.rows_affected();
    if affected != 1 {
        return Err(Error::Aborted(format!(
            "policy {} changed meanwhile; read it again",
            policy.id
        ))
        .zh(format!("{}已被他人修改，请刷新后重试", policy.named())));
    }
    Ok(())
}

/// A value of a version's row; a missing time binds as a BIGINT NULL
/// (PostgreSQL refuses a NULL of TEXT in a BIGINT column).
enum Bind {
    Text(String),
    Int(i64),
    Time(Option<i64>),
}

impl From<String> for Bind {
    fn from(text: String) -> Self {
        Bind::Text(text)
    }
}

impl From<&str> for Bind {
    fn from(text: &str) -> Self {
        Bind::Text(text.to_owned())
    }
}

impl From<i64> for Bind {
    fn from(number: i64) -> Self {
        Bind::Int(number)
    }
}

fn opt(value: Option<i64>) -> Bind {
    Bind::Time(value)
}

/// Newest first; `filter` is built by the API from the caller's scope.
pub async fn list_policies(
    conn: &mut AnyConnection,
    filter: Filter,
    after: Option<PageToken>,
    limit: i64,
) -> Result<Vec<PolicyRow>, Error> {
    Keyset {
        from: "policy_versions p",
        columns: POLICY_COLUMNS,
        sort: "p.create_time",
        tie: "p.row_id",
        descending: true,
    }
    .page(conn, filter, after, limit, policy_from_row)
    .await
}

// ---- comments ----

const COMMENT_COLUMNS: &str = "id, policy_id, policy_version, jurisdiction_code, article, text, uscc, \
     enterprise_name, author, disposition, reply, replied_by, reply_time, create_time, revision";

fn comment_from_row(row: &AnyRow) -> Result<Comment, Error> {
    let disposition: Option<String> = row.try_get("disposition")?;
    let disposition = disposition
        .map(|d| Disposition::parse(&d).ok_or_else(|| corrupt("disposition", &d)))
        .transpose()?;
    let version: i64 = row.try_get("policy_version")?;
    Ok(Comment {
        id: row.try_get("id")?,
        policy_id: row.try_get("policy_id")?,
        policy_version: version as i32,
        jurisdiction_code: row.try_get("jurisdiction_code")?,
        article: row.try_get("article")?,
        text: row.try_get("text")?,
        uscc: row.try_get("uscc")?,
        enterprise_name: row.try_get("enterprise_name")?,
        author: row.try_get("author")?,
        disposition,
        reply: row.try_get("reply")?,
        replied_by: row.try_get("replied_by")?,
        reply_time: row.try_get("reply_time")?,
        create_time: row.try_get("create_time")?,
        revision: row.try_get("revision")?,
    })
}

pub async fn select_comment(conn: &mut AnyConnection, id: &str) -> Result<Option<Comment>, Error> {
    let row = sqlx::query(AssertSqlSafe(format!(
        "SELECT {COMMENT_COLUMNS} FROM policy_comments WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(comment_from_row).transpose()
}

pub async fn insert_comment(conn: &mut AnyConnection, c: &Comment) -> Result<(), Error> {
    sqlx::query(AssertSqlSafe(format!(
        "INSERT INTO policy_comments ({COMMENT_COLUMNS}) VALUES ({})",
        zhengqi_shared::storage::placeholders(1, 15)
    )))
    .bind(&c.id)
    .bind(&c.policy_id)
    .bind(i64::from(c.policy_version))
    .bind(&c.jurisdiction_code)
    .bind(&c.article)
    .bind(&c.text)
    .bind(&c.uscc)
    .bind(&c.enterprise_name)
    .bind(&c.author)
    .bind(c.disposition.map(|d| d.as_str().to_owned()))
    .bind(&c.reply)
    .bind(&c.replied_by)
    .bind(c.reply_time)
    .bind(c.create_time)
    .bind(c.revision)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub async fn update_comment(
    conn: &mut AnyConnection,
    c: &Comment,
    expected_revision: i64,
) -> Result<(), Error> {
    let affected = sqlx::query(
        "UPDATE policy_comments SET disposition = $1, reply = $2, replied_by = $3, reply_time = $4, \
         revision = $5 WHERE id = $6 AND revision = $7",
    )
    .bind(c.disposition.map(|d| d.as_str().to_owned()))
    .bind(&c.reply)
    .bind(&c.replied_by)
    .bind(c.reply_time)
    .bind(c.revision)
    .bind(&c.id)
    .bind(expected_revision)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if affected != 1 {
        return Err(
            Error::Aborted(format!("comment {} changed meanwhile; read it again", c.id))
                .zh("该意见已被他人修改，请刷新后重试"),
        );
    }
    Ok(())
}

/// Oldest first, as a consultation's comments were made.
pub async fn list_comments(
    conn: &mut AnyConnection,
    filter: Filter,
    after: Option<PageToken>,
    limit: i64,
) -> Result<Vec<Comment>, Error> {
    Keyset {
        from: "policy_comments",
        columns: COMMENT_COLUMNS,
        sort: "create_time",
        tie: "id",
        descending: false,
    }
    .page(conn, filter, after, limit, comment_from_row)
    .await
}

// ---- questions ----

const QUESTION_COLUMNS: &str = "id, policy_id, jurisdiction_code, text, uscc, enterprise_name, asker, \
     answer, answered_by, answer_time, public, create_time, revision";

fn question_from_row(row: &AnyRow) -> Result<Question, Error> {
    Ok(Question {
        id: row.try_get("id")?,
        policy_id: row.try_get("policy_id")?,
        jurisdiction_code: row.try_get("jurisdiction_code")?,
        text: row.try_get("text")?,
        uscc: row.try_get("uscc")?,
        enterprise_name: row.try_get("enterprise_name")?,
        asker: row.try_get("asker")?,
        answer: row.try_get("answer")?,
        answered_by: row.try_get("answered_by")?,
        answer_time: row.try_get("answer_time")?,
        public: row.try_get::<i64, _>("public")? != 0,
        create_time: row.try_get("create_time")?,
        revision: row.try_get("revision")?,
    })
}

pub async fn select_question(
    conn: &mut AnyConnection,
    id: &str,
) -> Result<Option<Question>, Error> {
    let row = sqlx::query(AssertSqlSafe(format!(
        "SELECT {QUESTION_COLUMNS} FROM policy_questions WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(question_from_row).transpose()
}

pub async fn insert_question(conn: &mut AnyConnection, q: &Question) -> Result<(), Error> {
    sqlx::query(AssertSqlSafe(format!(
        "INSERT INTO policy_questions ({QUESTION_COLUMNS}) VALUES ({})",
        zhengqi_shared::storage::placeholders(1, 13)
    )))
    .bind(&q.id)
    .bind(&q.policy_id)
    .bind(&q.jurisdiction_code)
    .bind(&q.text)
    .bind(&q.uscc)
    .bind(&q.enterprise_name)
    .bind(&q.asker)
    .bind(&q.answer)
    .bind(&q.answered_by)
    .bind(q.answer_time)
    .bind(i64::from(q.public))
    .bind(q.create_time)
    .bind(q.revision)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub async fn update_question(
    conn: &mut AnyConnection,
    q: &Question,
    expected_revision: i64,
) -> Result<(), Error> {
    let affected = sqlx::query(
        "UPDATE policy_questions SET answer = $1, answered_by = $2, answer_time = $3, public = $4, \
         revision = $5 WHERE id = $6 AND revision = $7",
    )
    .bind(&q.answer)
    .bind(&q.answered_by)
    .bind(q.answer_time)
    .bind(i64::from(q.public))
    .bind(q.revision)
    .bind(&q.id)
    .bind(expected_revision)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if affected != 1 {
        return Err(Error::Aborted(format!(
            "question {} changed meanwhile; read it again",
            q.id
        ))
        .zh("该咨询已被他人修改，请刷新后重试"));
    }
    Ok(())
}

pub async fn list_questions(
    conn: &mut AnyConnection,
    filter: Filter,
    after: Option<PageToken>,
    limit: i64,
) -> Result<Vec<Question>, Error> {
    Keyset {
        from: "policy_questions",
        columns: QUESTION_COLUMNS,
        sort: "create_time",
        tie: "id",
        descending: true,
    }
    .page(conn, filter, after, limit, question_from_row)
    .await
}

// ---- fulfilments ----

const FULFILLMENT_COLUMNS: &str = "id, policy_id, policy_version, uscc, enterprise_name, jurisdiction_code, \
     department_id, kind, amount_fen, note, fulfill_time, recorded_by, create_time";

fn fulfillment_from_row(row: &AnyRow) -> Result<Fulfillment, Error> {
    let kind: String = row.try_get("kind")?;
    let version: i64 = row.try_get("policy_version")?;
    Ok(Fulfillment {
        id: row.try_get("id")?,
        policy_id: row.try_get("policy_id")?,
        policy_version: version as i32,
        uscc: row.try_get("uscc")?,
        enterprise_name: row.try_get("enterprise_name")?,
        jurisdiction_code: row.try_get("jurisdiction_code")?,
        department_id: row.try_get("department_id")?,
        kind: FulfillmentKind::parse(&kind).ok_or_else(|| corrupt("kind", &kind))?,
        amount_fen: row.try_get("amount_fen")?,
        note: row.try_get("note")?,
        fulfill_time: row.try_get("fulfill_time")?,
        recorded_by: row.try_get("recorded_by")?,
        create_time: row.try_get("create_time")?,
    })
}

pub async fn select_fulfillment(
    conn: &mut AnyConnection,
    id: &str,
) -> Result<Option<Fulfillment>, Error> {
    let row = sqlx::query(AssertSqlSafe(format!(
        "SELECT {FULFILLMENT_COLUMNS} FROM policy_fulfillments WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(fulfillment_from_row).transpose()
}

pub async fn insert_fulfillment(conn: &mut AnyConnection, f: &Fulfillment) -> Result<(), Error> {
    sqlx::query(AssertSqlSafe(format!(
        "INSERT INTO policy_fulfillments ({FULFILLMENT_COLUMNS}) VALUES ({})",
        zhengqi_shared::storage::placeholders(1, 13)
    )))
    .bind(&f.id)
    .bind(&f.policy_id)
    .bind(i64::from(f.policy_version))
    .bind(&f.uscc)
    .bind(&f.enterprise_name)
    .bind(&f.jurisdiction_code)
    .bind(&f.department_id)
    .bind(f.kind.as_str())
    .bind(f.amount_fen)
    .bind(&f.note)
    .bind(f.fulfill_time)
    .bind(&f.recorded_by)
    .bind(f.create_time)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub async fn list_fulfillments(
    conn: &mut AnyConnection,
    filter: Filter,
    after: Option<PageToken>,
    limit: i64,
) -> Result<Vec<Fulfillment>, Error> {
    Keyset {
        from: "policy_fulfillments",
        columns: FULFILLMENT_COLUMNS,
        sort: "create_time",
        tie: "id",
        descending: true,
    }
    .page(conn, filter, after, limit, fulfillment_from_row)
    .await
}

// ---- ratings ----

const RATING_COLUMNS: &str = "id, policy_id, policy_version, uscc, enterprise_name, jurisdiction_code, \
     rating, comment, create_time, update_time";

fn rating_from_row(row: &AnyRow) -> Result<PolicyRating, Error> {
    let rating: String = row.try_get("rating")?;
    let version: i64 = row.try_get("policy_version")?;
    Ok(PolicyRating {
        id: row.try_get("id")?,
        policy_id: row.try_get("policy_id")?,
        policy_version: version as i32,
        uscc: row.try_get("uscc")?,
        enterprise_name: row.try_get("enterprise_name")?,
        jurisdiction_code: row.try_get("jurisdiction_code")?,
        rating: Rating::parse(&rating).ok_or_else(|| corrupt("rating", &rating))?,
        comment: row.try_get("comment")?,
        create_time: row.try_get("create_time")?,
        update_time: row.try_get("update_time")?,
    })
}

pub async fn select_rating_by_id(
    conn: &mut AnyConnection,
    id: &str,
) -> Result<Option<PolicyRating>, Error> {
    let row = sqlx::query(AssertSqlSafe(format!(
        "SELECT {RATING_COLUMNS} FROM policy_ratings WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(rating_from_row).transpose()
}

pub async fn select_rating(
    conn: &mut AnyConnection,
    policy_id: &str,
    version: i32,
    uscc: &str,
) -> Result<Option<PolicyRating>, Error> {
    let row = sqlx::query(AssertSqlSafe(format!(
        "SELECT {RATING_COLUMNS} FROM policy_ratings WHERE policy_id = $1 AND policy_version = $2 AND uscc = $3"
    )))
    .bind(policy_id)
    .bind(i64::from(version))
    .bind(uscc)
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(rating_from_row).transpose()
}

/// Inserts a rating, or replaces the enterprise's earlier one of the version.
pub async fn put_rating(
    conn: &mut AnyConnection,
    r: &PolicyRating,
    replace: bool,
) -> Result<(), Error> {
    if replace {
        sqlx::query(
            "UPDATE policy_ratings SET rating = $1, comment = $2, update_time = $3, enterprise_name = $4 WHERE id = $5",
        )
        .bind(r.rating.as_str())
        .bind(&r.comment)
        .bind(r.update_time)
        .bind(&r.enterprise_name)
        .bind(&r.id)
        .execute(&mut *conn)
        .await?;
        return Ok(());
    }
    sqlx::query(AssertSqlSafe(format!(
        "INSERT INTO policy_ratings ({RATING_COLUMNS}) VALUES ({})",
        zhengqi_shared::storage::placeholders(1, 10)
    )))
    .bind(&r.id)
    .bind(&r.policy_id)
    .bind(i64::from(r.policy_version))
    .bind(&r.uscc)
    .bind(&r.enterprise_name)
    .bind(&r.jurisdiction_code)
    .bind(r.rating.as_str())
    .bind(&r.comment)
    .bind(r.create_time)
    .bind(r.update_time)
    .execute(&mut *conn)
    .await
    .map_err(|e| {
        if is_unique_violation(&e) {
            Error::Aborted("the enterprise rated this version meanwhile; retry".into())
                .zh("贵企业刚刚已对该政策作出评价，请刷新后重试")
        } else {
            Error::Database(e)
        }
    })?;
    Ok(())
}

// ---- inbox ----

const INBOX_COLUMNS: &str = "id, uscc, jurisdiction_code, policy_id, policy_version, kind, title, summary, \
     document_number, push_time, read_time";

fn item_from_row(row: &AnyRow) -> Result<InboxItem, Error> {
    let kind: String = row.try_get("kind")?;
    let version: i64 = row.try_get("policy_version")?;
    Ok(InboxItem {
        id: row.try_get("id")?,
        uscc: row.try_get("uscc")?,
        jurisdiction_code: row.try_get("jurisdiction_code")?,
        policy_id: row.try_get("policy_id")?,
        policy_version: version as i32,
        kind: PolicyKind::parse(&kind).ok_or_else(|| corrupt("kind", &kind))?,
        title: row.try_get("title")?,
        summary: row.try_get("summary")?,
        document_number: row.try_get("document_number")?,
        push_time: row.try_get("push_time")?,
        read_time: row.try_get("read_time")?,
    })
}

/// Pushes an item; false when the enterprise already has this version.
pub async fn push_item(conn: &mut AnyConnection, item: &InboxItem) -> Result<bool, Error> {
    let inserted = sqlx::query(AssertSqlSafe(format!(
        "INSERT INTO policy_inbox ({INBOX_COLUMNS}) VALUES ({}) \
         ON CONFLICT (uscc, policy_id, policy_version) DO NOTHING",
        zhengqi_shared::storage::placeholders(1, 11)
    )))
    .bind(&item.id)
    .bind(&item.uscc)
    .bind(&item.jurisdiction_code)
    .bind(&item.policy_id)
    .bind(i64::from(item.policy_version))
    .bind(item.kind.as_str())
    .bind(&item.title)
    .bind(&item.summary)
    .bind(&item.document_number)
    .bind(item.push_time)
    .bind(item.read_time)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    Ok(inserted == 1)
}

pub async fn select_items(
    conn: &mut AnyConnection,
    ids: &[String],
) -> Result<Vec<InboxItem>, Error> {
    let mut filter = Filter::new();
    filter.any_of("id", ids.iter().cloned().map(SqlValue::Text));
    let sql = format!(
        "SELECT {INBOX_COLUMNS} FROM policy_inbox{}",
        filter.where_clause()
    );
    let rows = filter.query(sql).fetch_all(&mut *conn).await?;
    rows.iter().map(item_from_row).collect()
}

pub async fn mark_read(conn: &mut AnyConnection, id: &str, now: i64) -> Result<bool, Error> {
    let affected =
        sqlx::query("UPDATE policy_inbox SET read_time = $1 WHERE id = $2 AND read_time IS NULL")
            .bind(now)
            .bind(id)
            .execute(&mut *conn)
            .await?
            .rows_affected();
    Ok(affected == 1)
}

pub async fn list_inbox(
    conn: &mut AnyConnection,
    filter: Filter,
    after: Option<PageToken>,
    limit: i64,
) -> Result<Vec<InboxItem>, Error> {
    Keyset {
        from: "policy_inbox",
        columns: INBOX_COLUMNS,
        sort: "push_time",
        tie: "id",
        descending: true,
    }
    .page(conn, filter, after, limit, item_from_row)
    .await
}

pub async fn count_unread(conn: &mut AnyConnection, mut filter: Filter) -> Result<i64, Error> {
    filter.and(|_| "read_time IS NULL".to_owned());
    let sql = format!("SELECT COUNT(*) FROM policy_inbox{}", filter.where_clause());
    let row = filter.query(sql).fetch_one(&mut *conn).await?;
    Ok(row.try_get(0)?)
}

// ---- enterprises ----

/// Serialises the two ways a push is decided — a publication reading the
/// enterprises, a registration reading the published policies — so neither
/// misses the other's uncommitted write (PostgreSQL's READ COMMITTED would let
/// both run and each see nothing). SQLite writers are serial already.
pub async fn lock_pushes(conn: &mut AnyConnection, backend: Backend) -> Result<(), Error> {
    if backend == Backend::Postgres {
        sqlx::query("SELECT pg_advisory_xact_lock(7402)")
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

fn enterprise_from_row(row: &AnyRow) -> Result<Enterprise, Error> {
    let tags: String = row.try_get("tags")?;
    Ok(Enterprise {
        uscc: row.try_get("uscc")?,
        name: row.try_get("name")?,
        jurisdiction_code: row.try_get("jurisdiction_code")?,
        industry: row.try_get("industry")?,
        size: row.try_get("size")?,
        tags: tags
            .split('|')
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .collect(),
    })
}

pub async fn select_enterprise(
    conn: &mut AnyConnection,
    uscc: &str,
) -> Result<Option<Enterprise>, Error> {
    let row = sqlx::query(
        "SELECT uscc, name, jurisdiction_code, industry, size, tags FROM policy_enterprises WHERE uscc = $1",
    )
    .bind(uscc)
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(enterprise_from_row).transpose()
}

/// The known enterprises registered in any of `jurisdictions`.
pub async fn select_enterprises_in(
    conn: &mut AnyConnection,
    jurisdictions: &[String],
) -> Result<Vec<Enterprise>, Error> {
    let mut filter = Filter::new();
    filter.any_of(
        "jurisdiction_code",
        jurisdictions.iter().cloned().map(SqlValue::Text),
    );
    let sql = format!(
        "SELECT uscc, name, jurisdiction_code, industry, size, tags FROM policy_enterprises{} ORDER BY uscc",
        filter.where_clause()
    );
    let rows = filter.query(sql).fetch_all(&mut *conn).await?;
    rows.iter().map(enterprise_from_row).collect()
}

pub async fn upsert_enterprise(
    conn: &mut AnyConnection,
    e: &Enterprise,
    now: i64,
) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO policy_enterprises (uscc, name, jurisdiction_code, industry, size, tags, update_time) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (uscc) DO UPDATE SET name = excluded.name, jurisdiction_code = excluded.jurisdiction_code, \
         industry = excluded.industry, size = excluded.size, tags = excluded.tags, update_time = excluded.update_time",
    )
    .bind(&e.uscc)
    .bind(&e.name)
    .bind(&e.jurisdiction_code)
    .bind(&e.industry)
    .bind(&e.size)
    .bind(bars(&e.tags))
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
