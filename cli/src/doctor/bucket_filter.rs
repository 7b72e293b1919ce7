//! Whether the CallTools contact listing honours a bucket filter (`GET /api/contacts/?buckets=
//! <id>`, UNCONFIRMED: research §5.1 documents DRF-style query filters, none for buckets, and
//! CallTools ignores a filter it does not know, answering the whole account). Where it is
//! honoured, the sink audit lists each bucket 250 contacts a call instead of reading every placed
//! contact back (`CallToolsBucketFilter`, `CALLTOOLS_BUCKET_FILTER`).
//!
//! Honoured only when every contact listed for a rule bucket shows that bucket and the listing
//! holds fewer contacts than the whole account; an account with no contact outside the bucket
//! cannot tell the two apart, and is taken as not honouring it.

use leadsync::app::config::BucketFilter;
use leadsync::sinks::calltools::client::{BUCKET_FILTER_PARAM, CallToolsApi, CallToolsClient};
use leadsync::sinks::calltools::placement::shown;
use serde_json::Value;

use super::report::{Check, Learned};

const AREA: &str = "calltools";
const NAME: &str = "calltools.bucket_filter";

/// What one filtered listing page and the account's size say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Honoured {
        listed: u64,
        total: u64,
    },
    /// A listed contact does not show the bucket.
    Ignored {
        listed: u64,
    },
    /// Nothing outside the bucket to tell by (or the answers do not say how many).
    CannotTell,
}

/// The verdict on the first page of the listing filtered by `bucket` (`listed` of them in all,
/// when the answer says) against the account's `total`.
pub fn verdict(bucket: i64, page: &[Value], listed: Option<u64>, total: Option<u64>) -> Verdict {
    let outside = page
        .iter()
        .any(|c| !shown(c, "buckets").is_some_and(|b| b.contains(&bucket)));
    match (outside, listed, total) {
        (true, listed, _) => Verdict::Ignored {
            listed: listed.unwrap_or(page.len() as u64),
        },
        (false, Some(listed), Some(total)) if listed < total => Verdict::Honoured { listed, total },
        _ => Verdict::CannotTell,
    }
}

/// The check for the first rule bucket; records what was learned (`ignored` when it cannot
/// tell: the safe assumption).
pub async fn check(
    client: &CallToolsClient,
    configured: BucketFilter,
    bucket: Option<i64>,
    learned: &mut Learned,
) -> Check {
    let Some(bucket) = bucket else {
        return Check::skip(
            AREA,
            NAME,
            "no rule's bucket was found to list: the contact listing's bucket filter is not checked",
        );
    };
    let answers = async {
        let page = client.contacts_in_bucket(bucket, 1).await?;
        let total = client.contact_count().await?;
        Ok::<_, leadsync::ports::remote::RemoteError>((page, total))
    };
    let (page, total) = match answers.await {
        Ok(found) => found,
        Err(e) => {
            return Check::warn(
                AREA,
                NAME,
                format!("the contact listing filtered by bucket could not be read: {e}"),
                "run doctor again; until then keep CallToolsBucketFilter=ignored",
            );
        }
    };
    let listed = page
        .count
        .or((!page.more).then_some(page.contacts.len() as u64));
    let found = verdict(bucket, &page.contacts, listed, total);
    learned.bucket_filter = Some(match found {
        Verdict::Honoured { .. } => BucketFilter::Honoured.as_str(),
        _ => BucketFilter::Ignored.as_str(),
    });
    judge(found, configured, bucket)
}

/// The line for `found` against the `configured` setting.
pub fn judge(found: Verdict, configured: BucketFilter, bucket: i64) -> Check {
    let query = format!("?{BUCKET_FILTER_PARAM}={bucket}");
    let cost = "the sink audit lists 250 contacts a call: 40 calls per bucket per 10,000 contacts, instead of 10,000 reads";
    match (found, configured) {
        (Verdict::Honoured { listed, total }, BucketFilter::Honoured) => Check::pass(
            AREA,
            NAME,
            format!(
                "the contact listing honours {query} ({listed} of {total} contacts, each in the bucket): {cost}"
            ),
        ),
        (Verdict::Honoured { listed, total }, BucketFilter::Ignored) => Check::warn(
            AREA,
            NAME,
            format!(
                "the contact listing honours {query} ({listed} of {total} contacts, each in the bucket), but the sink audit still reads every placed contact back"
            ),
            format!("set CallToolsBucketFilter=honoured: {cost}"),
        ),
        (Verdict::Ignored { listed }, BucketFilter::Ignored) => Check::pass(
            AREA,
            NAME,
            format!(
                "the contact listing ignores {query} (it listed {listed}, some outside the bucket): the sink audit reads each placed contact back, 10,000 calls per 10,000 contacts"
            ),
        ),
        (Verdict::Ignored { listed }, BucketFilter::Honoured) => Check::warn(
            AREA,
            NAME,
            format!(
                "the contact listing ignores {query} (it listed {listed}, some outside the bucket), but CallToolsBucketFilter=honoured: each audit run notices and reads every contact back"
            ),
            "set CallToolsBucketFilter=ignored",
        ),
        (Verdict::CannotTell, BucketFilter::Ignored) => Check::pass(
            AREA,
            NAME,
            format!(
                "cannot tell whether the contact listing honours {query}: the account has no contact outside the bucket to tell by; CallToolsBucketFilter=ignored, the safe assumption"
            ),
        ),
        (Verdict::CannotTell, BucketFilter::Honoured) => Check::warn(
            AREA,
            NAME,
            format!(
                "cannot tell whether the contact listing honours {query}: the account has no contact outside the bucket to tell by"
            ),
            "set CallToolsBucketFilter=ignored until doctor can tell (the audit notices an ignored filter, at the cost of a listing per run)",
        ),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::doctor::report::Status;

    const COLD: i64 = 11237;

    #[test]
    fn only_a_listing_of_the_bucket_alone_smaller_than_the_account_is_honoured() {
        let inside = [
            json!({"id": 1, "buckets": [COLD]}),
            json!({"id": 2, "buckets": [{"id": COLD}]}),
        ];
        assert_eq!(
            verdict(COLD, &inside, Some(2), Some(5)),
            Verdict::Honoured {
                listed: 2,
                total: 5
            }
        );
        let whole = [
            json!({"id": 1, "buckets": [COLD]}),
            json!({"id": 3, "buckets": []}),
        ];
        assert_eq!(
            verdict(COLD, &whole, Some(5), Some(5)),
            Verdict::Ignored { listed: 5 }
        );
        assert_eq!(
            verdict(COLD, &[json!({"id": 1})], Some(1), Some(5)),
            Verdict::Ignored { listed: 1 },
            "a listing that does not show buckets vouches for nothing"
        );
        assert_eq!(
            verdict(COLD, &inside, Some(2), Some(2)),
            Verdict::CannotTell,
            "every contact is in the bucket: an ignored filter would answer the same"
        );
        assert_eq!(
            verdict(COLD, &[], Some(0), Some(0)),
            Verdict::CannotTell,
            "an empty account"
        );
        assert_eq!(verdict(COLD, &inside, None, Some(5)), Verdict::CannotTell);
    }

    #[test]
    fn the_line_warns_with_the_fix_when_the_setting_differs_from_the_account() {
        let honoured = Verdict::Honoured {
            listed: 2,
            total: 5,
        };
        let ignored = Verdict::Ignored { listed: 5 };
        assert_eq!(
            judge(honoured, BucketFilter::Honoured, COLD).status,
            Status::Pass
        );
        let c = judge(honoured, BucketFilter::Ignored, COLD);
        assert_eq!(c.status, Status::Warn);
        assert!(
            c.fix
                .unwrap()
                .starts_with("set CallToolsBucketFilter=honoured")
        );
        assert_eq!(
            judge(ignored, BucketFilter::Ignored, COLD).status,
            Status::Pass
        );
        let c = judge(ignored, BucketFilter::Honoured, COLD);
        assert_eq!(c.fix.as_deref(), Some("set CallToolsBucketFilter=ignored"));
        assert_eq!(
            judge(Verdict::CannotTell, BucketFilter::Honoured, COLD).status,
            Status::Warn
        );
        let c = judge(Verdict::CannotTell, BucketFilter::Ignored, COLD);
        assert!(c.summary.starts_with("cannot tell"), "{}", c.summary);
    }
}
