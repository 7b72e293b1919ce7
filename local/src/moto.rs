//! A moto server on loopback: the local stand-in for DynamoDB, SQS, SSM and CloudWatch.
//!
//! moto runs under a small Python wrapper that exits as soon as its parent (this process) is
//! gone, so a moto started by a test or by `make dev` never outlives it, even when the parent is
//! killed without a chance to clean up.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

const WRAPPER: &str = r#"
import os, sys, threading, time
parent = os.getppid()
def watch():
    while True:
        if os.getppid() != parent:
            os._exit(0)
        time.sleep(0.5)
threading.Thread(target=watch, daemon=True).start()
# moto's CloudWatch answers Sum, Average, Minimum, Maximum and SampleCount but no percentile;
# CloudWatch answers pNN from the values a metric received. Nearest rank over those values.
import math
from moto.cloudwatch import models as cw
statistic = cw.Statistics.get_statistics_for_type
def with_percentiles(self, stat):
    if stat.startswith("p"):
        try:
            q = float(stat[1:])
        except ValueError:
            return statistic(self, stat)
        values = sorted(self.metric_single_values_list)
        if not values or not 0 <= q <= 100:
            return None
        return values[max(1, math.ceil(q / 100 * len(values))) - 1]
    return statistic(self, stat)
cw.Statistics.get_statistics_for_type = with_percentiles
# DynamoDB applies each request to an item atomically: a conditional write checks and writes
# in one step, and a read sees an item before or after a write, never half of one. moto's
# threaded server does neither: it checks a condition and writes without a lock (two jobs could
# both take one contact's lease), and UpdateItem puts a new item's key in the table before it
# sets the other attributes, so a concurrent Query can read an item with only some of them. One
# lock around each DynamoDB request, from parsing to the serialized answer, makes each atomic.
from moto.dynamodb.responses import DynamoHandler
dynamodb_requests = threading.RLock()
answer_dynamodb = DynamoHandler.call_action
def call_action_atomically(self):
    with dynamodb_requests:
        return answer_dynamodb(self)
DynamoHandler.call_action = call_action_atomically
# SQS refuses a message whose body or String attribute value has a character outside
# #x9 | #xA | #xD | #x20-#xD7FF | #xE000-#xFFFD | #x10000-#x10FFFF: SendMessage answers
# InvalidMessageContents, SendMessageBatch fails that entry alone. moto takes anything.
from moto.sqs.models import SQSBackend
from moto.sqs.exceptions import SQSException
import re
REFUSED = "Invalid characters found. Valid unicode characters are #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF"
outside_sqs_set = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
def acceptable(body, attributes):
    values = [a.get("StringValue") for a in (attributes or {}).values() if isinstance(a, dict)]
    return not any(outside_sqs_set.search(v or "") for v in [body] + values)
send_one = SQSBackend.send_message
def send_message(self, queue_name, message_body, message_attributes=None, *args, **kwargs):
    if not acceptable(message_body, message_attributes):
        raise SQSException("InvalidMessageContents", REFUSED)
    return send_one(self, queue_name, message_body, message_attributes, *args, **kwargs)
SQSBackend.send_message = send_message
send_batch = SQSBackend.send_message_batch
def send_message_batch(self, queue_name, entries):
    taken = {k: e for k, e in entries.items()
             if acceptable(e.get("MessageBody"), e.get("MessageAttributes"))}
    refused = [{"Id": e["Id"], "SenderFault": True, "Code": "InvalidMessageContents",
                "Message": REFUSED} for k, e in entries.items() if k not in taken]
    messages, failed = send_batch(self, queue_name, taken) if taken else ([], [])
    return messages, failed + refused
SQSBackend.send_message_batch = send_message_batch
# Speed, not behaviour. moto checks each message it receives against the queue's retention
# period by building every queue attribute, three of which count all the queue's messages: a
# receive of 10 from a queue of 2,000 walked it ~90 times, and in a bulk tagging half of moto's
# time went there while leadsync's calls timed out behind it. The same check, reading the one
# attribute it needs.
def retained(self, queue_name, message):
    period = self.get_queue(queue_name).message_retention_period
    return period + message.sent_timestamp / 1000 > time.time()
assert hasattr(SQSBackend, "is_message_valid_based_on_retention_period"), "moto renamed the check"
SQSBackend.is_message_valid_based_on_retention_period = retained
# Each message a receive or a queue count looks at (visible? delayed?) reads the clock through
# moto's unix_time: datetimes built and subtracted, several microseconds a message, and a count
# of a queue of thousands looks at each message three times. time.time() reads the same clock.
import moto.sqs.models as sqs_models
moto_unix_time = sqs_models.unix_time
def unix_time_now(dt=None):
    return time.time() if dt is None else moto_unix_time(dt)
sqs_models.unix_time = unix_time_now
sqs_models.unix_time_millis = lambda dt=None: unix_time_now(dt) * 1000.0
# And each message sent reads the queue's ContentBasedDeduplication through the same attributes
# (counting the queue three times). That attribute exists only on FIFO queues, so while a
# standard queue's message is sent, its attributes answer that one read without being built; a
# moto that read any other attribute there gets an error (the send answers 500), not a wrong
# answer.
from moto.sqs.models import Queue
sending = threading.local()
class NoDeduplication(dict):
    def get(self, key, default=None):
        if key != "ContentBasedDeduplication":
            raise AssertionError(f"moto now reads {key} while sending")
        return default
    def refuse(self, *args):
        raise AssertionError("moto now reads more queue attributes while sending")
    __getitem__ = __contains__ = __iter__ = keys = items = values = refuse
every_attribute = Queue.attributes.fget
def queue_attributes(self):
    if getattr(sending, "active", False) and not self.fifo_queue:
        return NoDeduplication()
    return every_attribute(self)
Queue.attributes = property(queue_attributes)
def while_sending(send):
    def sent(*args, **kwargs):
        before = getattr(sending, "active", False)
        sending.active = True
        try:
            return send(*args, **kwargs)
        finally:
            sending.active = before
    return sent
SQSBackend.send_message = while_sending(SQSBackend.send_message)
SQSBackend.send_message_batch = while_sending(SQSBackend.send_message_batch)
# To route each request moto lists its own package folder and stats every entry in it (about
# 150), a twentieth of its time under load. The folder does not change while it runs.
import moto.backends
moto_modules = tuple(moto.backends.list_of_moto_modules())
moto.backends.list_of_moto_modules = lambda: moto_modules
# Each request looks up its action among its handler's methods with inspect.getmembers, and
# each UpdateItem parses its expression twice (the handler, then the backend): together about
# a tenth of an UpdateItem. A class's methods and an expression's parse are the same every
# time; the parsed tree is only read or deep-copied (moto's validator copies it), never changed.
import functools
import moto.core.responses
moto.core.responses.method_names_from_class = functools.lru_cache(maxsize=None)(
    moto.core.responses.method_names_from_class)
from moto.dynamodb.parsing.expressions import UpdateExpressionParser
UpdateExpressionParser.make = staticmethod(functools.lru_cache(maxsize=1024)(UpdateExpressionParser.make))
# Each request's log line, formatted and written to a stderr nobody reads: a tenth of moto's time.
import logging
logging.getLogger("werkzeug").setLevel(logging.ERROR)
# How many requests moto answered, by service and action, at GET /_leadsync/requests: what a
# ledger run cost its stand-in for AWS, per webhook.
import collections, json
from moto.core.responses import BaseResponse
from moto.moto_server.werkzeug_app import DomainDispatcherApplication
answered = collections.Counter()
counting = threading.Lock()
call_action = BaseResponse.call_action
def counted_call_action(self):
    with counting:
        answered[f"{getattr(self, 'service_name', None) or type(self).__name__}.{self._get_action()}"] += 1
    return call_action(self)
BaseResponse.call_action = counted_call_action
dispatch = DomainDispatcherApplication.__call__
def dispatch_or_count(self, environ, start_response):
    if environ.get("PATH_INFO") != "/_leadsync/requests":
        return dispatch(self, environ, start_response)
    with counting:
        body = json.dumps(answered).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]
DomainDispatcherApplication.__call__ = dispatch_or_count
from moto.server import main
main(["-H", "127.0.0.1", "-p", sys.argv[1]])
"#;

pub struct Moto {
    child: Child,
    pub url: String,
}

impl Moto {
    /// Starts moto on a free loopback port and waits until it answers.
    pub fn start() -> Result<Self> {
        let python = python_with_moto()?;
        let port = free_port()?;
        let child = Command::new(&python)
            .args(["-c", WRAPPER, &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting moto with {}", python.display()))?;
        let mut moto = Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        moto.wait_ready(Duration::from_secs(30))?;
        Ok(moto)
    }

    fn wait_ready(&mut self, limit: Duration) -> Result<()> {
        let start = Instant::now();
        let addr = self.url.trim_start_matches("http://").to_string();
        while start.elapsed() < limit {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "moto exited during start-up ({status}); is moto[server] installed? run `make venv`"
                );
            }
            if std::net::TcpStream::connect(&addr).is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        bail!("moto did not start within {limit:?}")
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The requests a moto started here has answered since it started, by `service.Action`
/// (`dynamodb.UpdateItem`): its wrapper counts them.
pub async fn requests_answered(moto_url: &str) -> Result<BTreeMap<String, u64>> {
    let url = format!("{moto_url}/_leadsync/requests");
    let answer = reqwest::get(&url)
        .await
        .and_then(reqwest::Response::error_for_status)
        .with_context(|| format!("GET {url}"))?;
    answer
        .json()
        .await
        .with_context(|| format!("reading {url}"))
}

/// What each `service.Action` was answered between two counts.
pub fn requests_between(
    before: &BTreeMap<String, u64>,
    after: &BTreeMap<String, u64>,
) -> BTreeMap<String, u64> {
    after
        .iter()
        .map(|(k, n)| {
            (
                k.clone(),
                n.saturating_sub(before.get(k).copied().unwrap_or(0)),
            )
        })
        .filter(|(_, n)| *n > 0)
        .collect()
}

/// The Python that has moto: `LEADSYNC_PYTHON`, else the repository's `.venv`, else `python3`.
fn python_with_moto() -> Result<PathBuf> {
    if let Ok(p) = std::env::var("LEADSYNC_PYTHON") {
        return Ok(PathBuf::from(p));
    }
    let mut dir = std::env::current_dir()?;
    loop {
        let candidate = dir.join(".venv/bin/python");
        if candidate.exists() {
            return Ok(candidate);
        }
        if !dir.pop() {
            break;
        }
    }
    let manifest_venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python");
    if manifest_venv.exists() {
        return Ok(manifest_venv);
    }
    Ok(PathBuf::from("python3"))
}

/// A port that was free a moment ago (the listener is closed before the port is handed out).
pub fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_between_two_counts_leave_out_what_did_not_change() {
        let before = BTreeMap::from([
            ("sqs.SendMessage".to_string(), 4),
            ("dynamodb.GetItem".into(), 2),
        ]);
        let after = BTreeMap::from([
            ("sqs.SendMessage".to_string(), 9),
            ("dynamodb.GetItem".into(), 2),
            ("dynamodb.UpdateItem".into(), 3),
        ]);
        assert_eq!(
            requests_between(&before, &after),
            BTreeMap::from([
                ("sqs.SendMessage".to_string(), 5),
                ("dynamodb.UpdateItem".into(), 3)
            ])
        );
    }
}
